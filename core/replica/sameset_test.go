package replica

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/netabase/netabase/core"
)

// sameSetSettings bound three writers' records by count and bytes, per
// writer and in total, under BoundsSameSet: at most 400 bytes a record.
var sameSetSettings = Settings{Name: "log", BoundsRule: BoundsSameSet,
	MaxRecordsPerWriter: 6, MaxBytesPerWriter: 6 * 400, MaxRecords: 12, MaxBytes: 12 * 400}

// sameSetRecords makes n records of three writers over 18 keys, several
// versions of most keys, of random sizes (some past 400 bytes) and
// clocks, some of them tombstones.
func sameSetRecords(t *testing.T, rng *rand.Rand, n int) []Verified {
	ws := []writer{newWriter(t, 1), newWriter(t, 2), newWriter(t, 3)}
	base := time.Now().Add(-time.Hour).UnixNano()
	var out []Verified
	for range n {
		w := ws[rng.IntN(len(ws))]
		var value []byte
		if rng.IntN(8) > 0 {
			value = make([]byte, rng.IntN(350))
		}
		out = append(out, seal(t, w, "log", fmt.Sprint("k", rng.IntN(6)), base+rng.Int64N(1000), value))
	}
	return out
}

// feed inserts recs into r in the order given, in batches of random sizes.
func feed(t *testing.T, r *Replica, rng *rand.Rand, recs []Verified) {
	for len(recs) > 0 {
		n := 1 + rng.IntN(min(len(recs), 4))
		if _, err := r.Insert(t.Context(), "", recs[:n]); err != nil {
			t.Fatal(err)
		}
		recs = recs[n:]
	}
}

func shuffled(rng *rand.Rand, recs []Verified) []Verified {
	out := slices.Clone(recs)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// TestSameRecordsSameSet: under BoundsSameSet, replicas that saw the same
// records, in any order and batches, hold the same set within every
// bound; and replicas that saw any two parts of them, once reconciled,
// hold the same set, the one a replica that saw both parts holds.
func TestSameRecordsSameSet(t *testing.T) {
	s, err := sameSetSettings.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(20, 2))
	for trial := range 100 {
		recs := sameSetRecords(t, rng, 20+rng.IntN(40))
		var first *Replica
		for range 4 {
			r := newReplica(t, s)
			feed(t, r, rng, shuffled(rng, recs))
			st := r.Status()
			if st.Records+st.Tombstones > s.MaxRecords || st.Bytes > s.MaxBytes {
				t.Fatalf("trial %d: %+v passes the bounds", trial, st)
			}
			for _, u := range r.writers {
				if u.records > s.MaxRecordsPerWriter || u.bytes > s.MaxBytesPerWriter {
					t.Fatalf("trial %d: a writer holds %d records, %d bytes, past its bounds", trial, u.records, u.bytes)
				}
			}
			if first == nil {
				first = r
				if st.Records+st.Tombstones < 6 {
					t.Fatalf("trial %d: %d records held: the bounds took too little to test", trial, st.Records+st.Tombstones)
				}
				continue
			}
			if r.Fingerprint() != first.Fingerprint() || !slices.Equal(r.Items(), first.Items()) {
				t.Fatalf("trial %d: replicas that saw the same %d records in other orders hold different sets:\n%v\n%v", trial, len(recs), first.Items(), r.Items())
			}
		}
		// Two replicas see two random parts, overlapping or not.
		a, b := newReplica(t, s), newReplica(t, s)
		var partA, partB []Verified
		for _, v := range recs {
			switch rng.IntN(3) {
			case 0:
				partA = append(partA, v)
			case 1:
				partB = append(partB, v)
			default:
				partA, partB = append(partA, v), append(partB, v)
			}
		}
		feed(t, a, rng, shuffled(rng, partA))
		feed(t, b, rng, shuffled(rng, partB))
		if _, _, erra, errb := reconcile(t, a, b); erra != nil || errb != nil {
			t.Fatalf("trial %d: %v, %v", trial, erra, errb)
		}
		sameSet(t, a, b)
		if a.Fingerprint() != first.Fingerprint() {
			t.Fatalf("trial %d: reconciled, two replicas hold %d items; one that saw every record %d", trial, len(a.Items()), len(first.Items()))
		}
	}
}

// TestBoundsRulesOnSectionThreesCase: SYNC.md §3's case, a key's newer
// version dropped for bytes while an older, smaller one arrives later.
// Under BoundsOldestFirst the set depends on the order; under
// BoundsSameSet it does not.
func TestBoundsRulesOnSectionThreesCase(t *testing.T) {
	w := newWriter(t, 1)
	base := time.Now().Add(-time.Hour).UnixNano()
	b := seal(t, w, "log", "b", base+20, make([]byte, 100))
	newer := seal(t, w, "log", "k", base+15, make([]byte, 300))
	older := seal(t, w, "log", "k", base+5, make([]byte, 10))
	sets := func(s Settings) (first, second []Item) {
		r1, r2 := newReplica(t, s), newReplica(t, s)
		for _, v := range []Verified{b, newer, older} {
			insert(t, r1, v)
		}
		for _, v := range []Verified{b, older, newer} {
			insert(t, r2, v)
		}
		return r1.Items(), r2.Items()
	}
	// b and newer pass the bytes per writer; b and older do not.
	bound := int64(len(b.Data) + len(older.Data) + 50)
	if x, y := sets(Settings{Name: "log", MaxBytesPerWriter: bound}); slices.Equal(x, y) {
		t.Fatalf("under the oldest-first rule both orders hold %v; SYNC.md §3 says they differ", x)
	}
	// Under BoundsSameSet the bound per record is what a byte bound
	// divided by its count bound gives: newer is past it.
	s := Settings{Name: "log", BoundsRule: BoundsSameSet, MaxRecordsPerWriter: 2, MaxBytesPerWriter: 2 * int64(len(newer.Data)-1)}
	x, y := sets(s)
	if !slices.Equal(x, y) || len(x) != 2 {
		t.Fatalf("under the same-set rule the orders hold %v and %v; want the same two records", x, y)
	}
}

// TestBoundsRuleSetting: the bounds' rule at its default, given or not,
// leaves the digest and the JSON form as they were; rule 2 changes both;
// another value is refused, naming the field.
func TestBoundsRuleSetting(t *testing.T) {
	norm := func(s Settings) Settings {
		t.Helper()
		n, err := s.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	plain, one, two := norm(Settings{Name: "log"}), norm(Settings{Name: "log", BoundsRule: BoundsOldestFirst}), norm(Settings{Name: "log", BoundsRule: BoundsSameSet})
	if plain.Digest() != one.Digest() || plain.Digest() == two.Digest() || plain.Topic() == two.Topic() {
		t.Fatalf("digests: left out %x, rule 1 %x, rule 2 %x", plain.Digest(), one.Digest(), two.Digest())
	}
	for _, s := range []Settings{plain, one, two} {
		b, err := s.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		if has := strings.Contains(string(b), "bounds_rule"); has != (s.BoundsRule == BoundsSameSet) {
			t.Errorf("rule %d: the JSON form %s", s.BoundsRule, b)
		}
		var back Settings
		if err := back.UnmarshalJSON(b); err != nil || norm(back).Digest() != s.Digest() {
			t.Errorf("rule %d: read back %+v, %v", s.BoundsRule, back, err)
		}
	}
	if diff := plain.Diff(two); !slices.Equal(diff, []string{"bounds_rule"}) {
		t.Errorf("Diff %v", diff)
	}
	var fe *FieldError
	if _, err := (Settings{Name: "log", BoundsRule: 3}).Normalize(); !errors.As(err, &fe) || fe.Key != "bounds_rule" {
		t.Errorf("rule 3: %v", err)
	}
}

// TestTooLargeNamesTheCapInsertUses: the error for a writer's own record
// that no bound fits names the largest record Insert takes, which under
// rule 2 is a byte bound divided by its count bound.
func TestTooLargeNamesTheCapInsertUses(t *testing.T) {
	r := newReplica(t, Settings{Name: "log", BoundsRule: BoundsSameSet, MaxRecordsPerWriter: 4, MaxBytesPerWriter: 4000})
	err := r.TooLarge(1500)
	if !errors.Is(err, core.ErrTooLarge) || !strings.Contains(err.Error(), "bound of 1000 bytes") {
		t.Errorf("TooLarge(1500) under rule 2 with 4000 bytes for 4 records: %v, want the bound of 1000 bytes", err)
	}
}
