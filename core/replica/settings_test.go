package replica

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"testing"
)

// TestDigestPinned: the digest of settings that give a name and writers
// only, and of settings with every field, are those of the release that
// had no other way to give the bounds than in code. A daemon upgraded
// with a [[sync]] table that gives no bounds joins the collection it
// joined before.
func TestDigestPinned(t *testing.T) {
	w1, w2 := newWriter(t, 1), newWriter(t, 2)
	for _, tc := range []struct {
		s    Settings
		want string
	}{
		{Settings{Name: "chat"}, "3d6436fdf8ded1b1edb5bf8b0461fe61"},
		{Settings{Name: "notes", Writers: []peer.ID{w2.id, w1.id}}, "cd1604a675cd82ee73f266fc68b645a5"},
		{Settings{Name: "log", Writers: []peer.ID{w1.id}, MaxRecordsPerWriter: 10, MaxBytesPerWriter: 1000, MaxRecords: 20, MaxBytes: 2000, TombstoneHorizon: time.Hour}, "e4123141fed6d7950c970b806d8c2f7b"},
	} {
		n, err := tc.s.Normalize()
		if err != nil {
			t.Fatal(err)
		}
		d := n.Digest()
		if got := hex.EncodeToString(d[:]); got != tc.want {
			t.Errorf("%s: digest %s, want %s", tc.s.Name, got, tc.want)
		}
	}
}

// TestSettingsJSON: the JSON form holds every field by its key, reads back
// to the same settings, and settings written in other spellings (the
// horizon in minutes, a bound at its default, the writers in another
// order) normalize to the same digest.
func TestSettingsJSON(t *testing.T) {
	w1, w2 := newWriter(t, 1), newWriter(t, 2)
	s, err := Settings{Name: "log", Writers: []peer.ID{w2.id, w1.id}, MaxRecords: 20, TombstoneHorizon: 36 * time.Hour}.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"log","writers":["` + s.Writers[0].String() + `","` + s.Writers[1].String() + `"],"max_records_per_writer":100000,"max_bytes_per_writer":268435456,"max_records":20,"max_bytes":1073741824,"tombstone_horizon":"36h"}`
	if string(b) != want {
		t.Errorf("JSON\n%s\nwant\n%s", b, want)
	}
	var back Settings
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, s) {
		t.Errorf("read back %+v, %v; want %+v", back, err, s)
	}
	other := `{"name":"log","writers":["` + w1.id.String() + `","` + w2.id.String() + `","` + w1.id.String() + `"],"max_records":20,"max_bytes":1073741824,"tombstone_horizon":"2160m"}`
	var o Settings
	if err := json.Unmarshal([]byte(other), &o); err != nil {
		t.Fatal(err)
	}
	if o, err = o.Normalize(); err != nil || o.Digest() != s.Digest() {
		t.Errorf("%s normalizes to %+v (%v), whose digest is not that of %+v", other, o, err, s)
	}
	if n, _ := (Settings{Name: "log"}).Normalize(); n.Digest() == s.Digest() {
		t.Error("settings with other bounds have the same digest")
	}
}

// TestSettingsRefused: a bad value is refused with its key and what the
// key takes.
func TestSettingsRefused(t *testing.T) {
	for _, tc := range []struct{ json, want string }{
		{`{"name":"a","max_records":"many"}`, `max_records: "many" is not a whole number`},
		{`{"name":"a","max_records":1.5}`, `max_records: 1.5 is not a whole number`},
		{`{"name":"a","tombstone_horizon":3600}`, `tombstone_horizon: is a number where the key takes a duration as text, such as "720h"`},
		{`{"name":"a","tombstone_horizon":"a month"}`, `tombstone_horizon: "a month" is not a duration`},
		{`{"name":"a","writers":["x"]}`, `writers: "x" is not a peer ID`},
		{`{"name":"a","writers":[1]}`, `writers: holds a number where the key takes a list of peer IDs`},
		{`{"name":"a","horizon":"1h"}`, `horizon: is not a setting of a synced collection; they are name, writers, max_records_per_writer, max_bytes_per_writer, max_records, max_bytes, tombstone_horizon`},
		{`{"name":7}`, `name: is a number where the key takes a string`},
	} {
		var s Settings
		err := json.Unmarshal([]byte(tc.json), &s)
		var fe *FieldError
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.As(err, &fe) {
			t.Errorf("%s: %v; want a *FieldError with %q", tc.json, err, tc.want)
		}
	}
	_, err := Settings{Name: "a", MaxBytes: -1}.Normalize()
	if err == nil || !strings.Contains(err.Error(), "max_bytes: is -1; give a positive bound, or 0 for the default 1073741824") {
		t.Errorf("a negative bound: %v", err)
	}
	_, err = Settings{Name: "a", TombstoneHorizon: -time.Hour}.Normalize()
	if err == nil || !strings.Contains(err.Error(), `tombstone_horizon: is -1h; give a positive bound, or 0 for the default 720h`) {
		t.Errorf("a negative horizon: %v", err)
	}
}

// TestAgree: settings that differ are refused with the fields that differ
// and their values on each side; equal ones, in any spelling, agree.
func TestAgree(t *testing.T) {
	w1 := newWriter(t, 1)
	mine, _ := Settings{Name: "log", Writers: []peer.ID{w1.id}}.Normalize()
	d := mine.Digest()
	if err := mine.Agree("the daemon", Settings{Name: "log", Writers: []peer.ID{w1.id}, MaxRecords: DefaultMaxRecords}, hex.EncodeToString(d[:])); err != nil {
		t.Errorf("equal settings: %v", err)
	}
	theirs, _ := Settings{Name: "log", Writers: []peer.ID{w1.id}, MaxRecordsPerWriter: 10, TombstoneHorizon: time.Hour}.Normalize()
	td := theirs.Digest()
	err := mine.Agree("the daemon", theirs, hex.EncodeToString(td[:]))
	want := "collection log: the daemon has other settings than this side, so the two replicate different collections: max_records_per_writer is 10 there and 100000 here; tombstone_horizon is 1h there and 720h here"
	if err == nil || err.Error() != want || !errors.Is(err, ErrOtherSettings) || !errors.Is(err, core.ErrConflict) {
		t.Errorf("other settings: %v\nwant %s", err, want)
	}
	if err := mine.Agree("the daemon", mine, "00"); err == nil || !errors.Is(err, ErrOtherSettings) || !strings.Contains(err.Error(), "compute the digest differently") {
		t.Errorf("another digest of the same settings: %v", err)
	}
}
