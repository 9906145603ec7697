package replica

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
)

type writer struct {
	priv crypto.PrivKey
	id   peer.ID
}

func newWriter(t testing.TB, seed int64) writer {
	t.Helper()
	priv, _, err := crypto.GenerateEd25519Key(rand.NewChaCha8([32]byte{byte(seed)}))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return writer{priv, id}
}

// seal makes w's record for key in coll, or a tombstone when value is nil.
func seal(t testing.TB, w writer, coll, key string, wall int64, value []byte) Verified {
	t.Helper()
	version := uint32(1)
	if value == nil {
		version = 0
	}
	e, err := envelope.Seal(w.priv, coll+"/"+key, coll, version, envelope.Timestamp{Wall: wall}, value)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return Verified{e, b}
}

func newReplica(t testing.TB, s Settings) *Replica {
	t.Helper()
	return openOn(t, dssync.MutexWrap(ds.NewMapDatastore()), s)
}

func openOn(t testing.TB, d ds.Datastore, s Settings) *Replica {
	t.Helper()
	s, err := s.Normalize()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Open(context.Background(), d, s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func insert(t testing.TB, r *Replica, vs ...Verified) int {
	t.Helper()
	n, err := r.Insert(context.Background(), "", vs)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// conns returns the two ends of a loopback TCP connection.
func conns(t testing.TB) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := l.Accept()
		acc <- c
	}()
	a, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a.(*net.TCPConn), b.(*net.TCPConn)
}

// reconcile runs a session of the newest version between a (initiator)
// and b.
func reconcile(t testing.TB, a, b *Replica) (Stats, Stats, error, error) {
	t.Helper()
	return reconcileVersion(t, a, b, Versions[0])
}

// reconcileVersion runs a session of version v between a (initiator) and
// b.
func reconcileVersion(t testing.TB, a, b *Replica, v Version) (Stats, Stats, error, error) {
	t.Helper()
	ca, cb := conns(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type result struct {
		st  Stats
		err error
	}
	done := make(chan result, 1)
	go func() {
		first, n, err := v.ReadMessage(cb)
		if err != nil {
			done <- result{err: err}
			return
		}
		st, err := b.Reconcile(ctx, cb, newWriter(t, 101).id, first)
		st.BytesReceived += int64(n)
		done <- result{st, err}
	}()
	sa, erra := a.ReconcileVersion(ctx, ca, v, newWriter(t, 102).id, nil)
	rb := <-done
	return sa, rb.st, erra, rb.err
}

func sameSet(t testing.TB, rs ...*Replica) {
	t.Helper()
	want := rs[0].Items()
	for i, r := range rs[1:] {
		if got := r.Items(); !slices.Equal(got, want) {
			t.Fatalf("replica %d holds %d items, replica 0 holds %d; they differ", i+1, len(got), len(want))
		}
		if r.Fingerprint() != rs[0].Fingerprint() {
			t.Fatalf("replica %d: fingerprint differs with equal items", i+1)
		}
	}
}

func TestReconcileConverges(t *testing.T) {
	for _, v := range Versions {
		t.Run(fmt.Sprint("version ", int(v)), func(t *testing.T) { testReconcileConverges(t, v) })
	}
}

func testReconcileConverges(t *testing.T, v Version) {
	ws := []writer{newWriter(t, 1), newWriter(t, 2), newWriter(t, 3)}
	s := Settings{Name: "chat"}
	for _, tc := range []struct {
		name          string
		common, onlyA int
		onlyB, newerA int
	}{
		{"equal", 500, 0, 0, 0},
		{"empty a", 0, 0, 300, 0},
		{"empty b", 0, 300, 0, 0},
		{"few differences", 2000, 3, 4, 5},
		{"many differences", 2000, 400, 300, 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newReplica(t, s), newReplica(t, s)
			rng := rand.New(rand.NewPCG(7, 7))
			base := time.Now().Add(-time.Hour).UnixNano()
			var common []Verified
			for i := range tc.common {
				common = append(common, seal(t, ws[rng.IntN(3)], "chat", fmt.Sprint("c", i), base+int64(i), []byte("x")))
			}
			insert(t, a, common...)
			insert(t, b, common...)
			for i := range tc.onlyA {
				insert(t, a, seal(t, ws[rng.IntN(3)], "chat", fmt.Sprint("a", i), base, []byte("a")))
			}
			for i := range tc.onlyB {
				insert(t, b, seal(t, ws[rng.IntN(3)], "chat", fmt.Sprint("b", i), base, []byte("b")))
			}
			for i := range tc.newerA {
				c := common[i].Env
				w := ws[slices.IndexFunc(ws, func(w writer) bool { return envelope.Key(w.id, "chat/"+fmt.Sprint("c", i)) == c.Key })]
				insert(t, a, seal(t, w, "chat", fmt.Sprint("c", i), c.Clock.Wall+1, []byte("newer")))
			}
			sa, sb, erra, errb := reconcileVersion(t, a, b, v)
			if erra != nil || errb != nil {
				t.Fatalf("initiator: %v; responder: %v", erra, errb)
			}
			sameSet(t, a, b)
			if got, want := a.Status().Records, tc.common+tc.onlyA+tc.onlyB; got != want {
				t.Fatalf("%d records after the session, want %d", got, want)
			}
			d := tc.onlyA + tc.onlyB + tc.newerA
			if d == 0 && (sa.Rounds != 1 || sa.BytesSent+sa.BytesReceived > 200) {
				t.Fatalf("equal replicas took %d messages from the initiator and %d bytes", sa.Rounds, sa.BytesSent+sa.BytesReceived)
			}
			if sa.RecordsSent+sb.RecordsSent < d {
				t.Fatalf("%d records sent for %d differences", sa.RecordsSent+sb.RecordsSent, d)
			}
			// A second session finds nothing to do.
			sa, _, erra, errb = reconcileVersion(t, b, a, v)
			if erra != nil || errb != nil || sa.Rounds != 1 || sa.RecordsSent != 0 {
				t.Fatalf("second session: %+v, %v, %v", sa, erra, errb)
			}
		})
	}
}

func TestNewestWinsWhateverTheOrder(t *testing.T) {
	w := newWriter(t, 1)
	s := Settings{Name: "chat"}
	old := seal(t, w, "chat", "k", 100, []byte("old"))
	newer := seal(t, w, "chat", "k", 200, []byte("new"))
	tomb := seal(t, w, "chat", "k", time.Now().UnixNano(), nil)
	// Equal clocks: the larger signature wins, as the DHT's selector says.
	t1, t2 := seal(t, w, "chat", "t", 300, []byte("one")), seal(t, w, "chat", "t", 300, []byte("two"))
	var want []Item
	for i, order := range [][]Verified{{old, newer, tomb, t1, t2}, {tomb, newer, old, t2, t1}, {t2, newer, tomb, old, t1}} {
		r := newReplica(t, s)
		for _, v := range order {
			insert(t, r, v)
		}
		got := r.Items()
		if i == 0 {
			want = got
			rec, err := r.Get(context.Background(), w.id, "k")
			if err != nil || !rec.Deleted {
				t.Fatalf("k: %+v, %v; want the tombstone", rec, err)
			}
			continue
		}
		if !slices.Equal(got, want) {
			t.Fatalf("order %d holds %v, order 0 %v", i, got, want)
		}
	}
	sel, err := envelope.Validator{}.Select(t1.Env.Key, [][]byte{t1.Data, t2.Data})
	if err != nil {
		t.Fatal(err)
	}
	r := newReplica(t, s)
	insert(t, r, t1, t2)
	winner := []Verified{t1, t2}[sel]
	if it, _ := r.set.Get(t1.Env.Key); it != ItemOf(winner.Env.Key, winner.Env.Clock, winner.Data) {
		t.Fatal("sync and the DHT's selector pick different winners for equal clocks")
	}
}

func TestVerifyRefuses(t *testing.T) {
	w, other := newWriter(t, 1), newWriter(t, 2)
	r := newReplica(t, Settings{Name: "chat", Writers: []peer.ID{w.id}})
	now := time.Now().UnixNano()
	good := seal(t, w, "chat", "k", now, []byte("v"))
	if _, err := r.Verify(good.Data); err != nil {
		t.Fatal(err)
	}
	forged := slices.Clone(good.Data)
	forged[len(forged)-1] ^= 1
	for name, tc := range map[string]struct {
		data   []byte
		reason Reason
	}{
		"unlisted writer":    {seal(t, other, "chat", "k", now, []byte("v")).Data, RefusedWriter},
		"other collection":   {seal(t, w, "other", "k", now, []byte("v")).Data, RefusedSchema},
		"bad signature":      {forged, RefusedSignature},
		"garbage":            {[]byte("not cbor"), RefusedMalformed},
		"tombstone w/ value": {sealVersion(t, w, "chat/k", "chat", 0, now, []byte("v")), RefusedMalformed},
		"no key":             {sealVersion(t, w, "chat/", "chat", 1, now, []byte("v")), RefusedSchema},
		"too large":          {make([]byte, envelope.MaxSize+1), RefusedBounds},
	} {
		before := r.Refused()
		if _, err := r.Verify(tc.data); !errors.Is(err, core.ErrRejected) {
			t.Errorf("%s: %v, want a rejection", name, err)
		}
		if got := r.Refused(); got[tc.reason] != before[tc.reason]+1 {
			t.Errorf("%s: refused %v, then %v; want one more for %s", name, before, got, tc.reason)
		}
	}
	ahead := seal(t, w, "chat", "k", time.Now().Add(2*envelope.MaxClockSkew).UnixNano(), []byte("v"))
	if _, err := r.Verify(ahead.Data); !errors.Is(err, ErrLater) {
		t.Errorf("a record dated ahead: %v, want ErrLater", err)
	}
	want := map[Reason]uint64{RefusedWriter: 1, RefusedSchema: 2, RefusedSignature: 1, RefusedMalformed: 2, RefusedBounds: 1, RefusedClock: 1, RefusedRate: 0}
	if got := r.Refused(); !maps.Equal(got, want) {
		t.Errorf("refused %v, want %v", got, want)
	}
}

func sealVersion(t testing.TB, w writer, name, schema string, version uint32, wall int64, value []byte) []byte {
	t.Helper()
	e, err := envelope.Seal(w.priv, name, schema, version, envelope.Timestamp{Wall: wall}, value)
	if err != nil {
		t.Fatal(err)
	}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestBoundsKeepTheNewestWhateverTheOrder(t *testing.T) {
	ws := []writer{newWriter(t, 1), newWriter(t, 2)}
	s := Settings{Name: "chat", MaxRecordsPerWriter: 5, MaxRecords: 8}
	var all []Verified
	for i := range 20 {
		all = append(all, seal(t, ws[i%2], "chat", fmt.Sprint("k", i), int64(1000+i*7%20), []byte("v")))
	}
	var want []Item
	for round := range 4 {
		r := newReplica(t, s)
		order := slices.Clone(all)
		rand.New(rand.NewPCG(uint64(round), 3)).Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, v := range order {
			insert(t, r, v)
		}
		st := r.Status()
		if st.Records != 8 {
			t.Fatalf("%d records held, want the total bound 8", st.Records)
		}
		if round == 0 {
			want = r.Items()
			continue
		}
		if got := r.Items(); !slices.Equal(got, want) {
			t.Fatalf("order %d keeps %v, order 0 %v", round, got, want)
		}
	}
}

func TestReopenKeepsTheReplica(t *testing.T) {
	d := dssync.MutexWrap(ds.NewMapDatastore())
	w := newWriter(t, 1)
	s := Settings{Name: "chat"}
	r := openOn(t, d, s)
	for i := range 50 {
		insert(t, r, seal(t, w, "chat", fmt.Sprint(i), int64(i+1), []byte("v")))
	}
	peerSide := newReplica(t, s)
	if _, _, erra, errb := reconcile(t, r, peerSide); erra != nil || errb != nil {
		t.Fatal(erra, errb)
	}
	again := openOn(t, d, s)
	sameSet(t, r, again)
	if ps := again.Status().Peers[newWriter(t, 102).id]; ps.Sessions != 1 || ps.Total.RecordsSent != 50 {
		t.Fatalf("after a reopen, the figures of the session with the peer are %+v", ps)
	}
	// A writer list that leaves w out drops its records on open.
	other := openOn(t, d, Settings{Name: "chat", Writers: []peer.ID{newWriter(t, 2).id}})
	if n := other.Status().Records; n != 0 {
		t.Fatalf("%d records of an unlisted writer kept", n)
	}
}

// badPeer plays the responder with a hand-made reply.
func TestMalformedAndSilentPeers(t *testing.T) {
	w := newWriter(t, 1)
	s := Settings{Name: "chat"}
	r := newReplica(t, s)
	insert(t, r, seal(t, w, "chat", "k", 1, []byte("v")))
	before := r.Items()
	for name, reply := range map[string][]byte{
		"garbage":        {5, 1, 2, 3, 4, 5},
		"oversized":      {0xff, 0xff, 0xff, 0xff, 0x0f},
		"cut short":      {10, 1},
		"bad ranges":     mustEncode(t, &Message{Ranges: []Range{{Upper: []byte("b"), Mode: ModeSkip}, {Upper: []byte("a"), Mode: ModeSkip}, {Mode: ModeSkip}}}),
		"forged record":  mustEncode(t, &Message{Records: []WireRecord{{Key: []byte("/netabase/x/chat/k"), Envelope: []byte("junk")}}}),
		"unknown fields": {3, 0xa1, 0x18, 0x63},
	} {
		t.Run(name, func(t *testing.T) {
			ca, cb := conns(t)
			go func() {
				_, _, _ = ReadMessage(cb)
				if b, err := frameBytes(reply); err == nil && name != "oversized" && name != "cut short" && name != "garbage" {
					_, _ = cb.Write(b)
				} else {
					_, _ = cb.Write(reply)
				}
				_ = cb.CloseWrite()
			}()
			_, err := r.Reconcile(context.Background(), ca, "bad", nil)
			if err == nil {
				t.Fatal("a malformed reply was taken")
			}
			if !slices.Equal(r.Items(), before) {
				t.Fatal("the replica changed")
			}
		})
	}
	t.Run("silent", func(t *testing.T) {
		ca, _ := conns(t)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		_, err := r.Reconcile(ctx, ca, "silent", nil)
		if err == nil {
			t.Fatal("a silent peer's session ended without an error")
		}
		if !slices.Equal(r.Items(), before) {
			t.Fatal("the replica changed")
		}
	})
}

// resettable is a Conn with a Reset method, as a libp2p stream has.
type resettable struct {
	*net.TCPConn
	reset chan struct{}
}

func (c resettable) Reset() error {
	close(c.reset)
	return c.Close()
}

// TestFailedSessionSaysWhy: a session that fails while the stream works
// ends with an error message saying why, then the end of the stream, in
// valid UTF-8 however long the reason; a session the peer ends with an
// error message gets none back; a session that stops (its context ends)
// resets a stream that can be reset.
func TestFailedSessionSaysWhy(t *testing.T) {
	r := newReplica(t, Settings{Name: "chat"})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// session runs r's side of a session over ca; the peer's side, at cb,
	// reads the hello and sends reply.
	session := func(reply *Message) (*net.TCPConn, <-chan error) {
		ca, cb := conns(t)
		done := make(chan error, 1)
		go func() {
			_, err := r.Reconcile(ctx, ca, "peer", nil)
			done <- err
		}()
		if _, _, err := ReadMessage(cb); err != nil {
			t.Fatal(err)
		}
		if _, err := WriteMessage(cb, reply); err != nil {
			t.Fatal(err)
		}
		return cb, done
	}
	cb, done := session(&Message{Records: []WireRecord{{Key: []byte("/netabase/x/chat/k"), Envelope: []byte("junk")}}})
	if m, _, err := ReadMessage(cb); err != nil || !strings.Contains(m.Error, "refuses") {
		t.Fatalf("after a refused record the peer read %+v, %v; want an error message saying why", m, err)
	}
	if _, _, err := ReadMessage(cb); !errors.Is(err, io.EOF) {
		t.Fatalf("after the error message the peer read %v, not the end of the stream", err)
	}
	if err := <-done; err == nil {
		t.Fatal("a session with a refused record did not fail")
	}

	cb, done = session(&Message{Error: "going away"})
	if m, _, err := ReadMessage(cb); !errors.Is(err, io.EOF) {
		t.Fatalf("after its error message the peer read %+v, %v; want the end of the stream", m, err)
	}
	if err := <-done; err == nil || !strings.Contains(err.Error(), "going away") {
		t.Fatalf("the session the peer ended returned %v; want its reason", err)
	}

	ca, cb := conns(t)
	long := strings.Repeat("€", MaxErrorSize) // 3 bytes each: cut inside one
	Refuse(ca, long)
	m, _, err := ReadMessage(cb)
	if err != nil {
		t.Fatalf("a long reason did not arrive: %v", err)
	}
	if len(m.Error) > MaxErrorSize || !strings.HasPrefix(long, m.Error) || len(m.Error) < MaxErrorSize-3 {
		t.Fatalf("a long reason arrived as %d bytes, not cut at the last character that fits", len(m.Error))
	}

	ca, cb = conns(t)
	stopped, stop := context.WithCancel(ctx)
	rc := resettable{ca, make(chan struct{})}
	go func() {
		_, _, _ = ReadMessage(cb)
		stop()
	}()
	if _, err := r.Reconcile(stopped, rc, "peer", nil); err == nil {
		t.Fatal("a stopped session did not fail")
	}
	select {
	case <-rc.reset:
	default:
		t.Fatal("a stopped session did not reset its stream")
	}
}

func mustEncode(t testing.TB, m *Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// frameBytes frames an encoded message.
func frameBytes(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b)+10)
	out = append(out, byte(len(b)))
	if len(b) >= 0x80 {
		return nil, errors.New("too long for this helper")
	}
	return append(out, b...), nil
}

func FuzzDecode(f *testing.F) {
	w := newWriter(f, 1)
	v := seal(f, w, "chat", "k", 1, []byte("v"))
	f.Add(mustEncode(f, &Message{Collection: "chat", Digest: make([]byte, HashSize), Ranges: []Range{{Mode: ModeFingerprint, Fingerprint: make([]byte, HashSize)}}}))
	f.Add(mustEncode(f, &Message{Ranges: []Range{{Upper: []byte("/a"), Mode: ModeList, Items: []WireItem{{Key: []byte("/"), Hash: make([]byte, HashSize)}}}, {Mode: ModeSkip}}}))
	f.Add(mustEncode(f, &Message{Records: []WireRecord{{Key: []byte(v.Env.Key), Envelope: v.Data}}, Wants: [][]byte{[]byte("/x")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Decode(b)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("an error that is not ErrMalformed: %v", err)
			}
			return
		}
		again, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(again); err != nil {
			t.Fatalf("a decoded message does not decode again: %v", err)
		}
		// A replica answers any well-formed message without failing.
		r := newReplica(t, Settings{Name: "chat"})
		insert(t, r, v)
		r.set.reconcile(m.Ranges, Version1.shape())
	})
}

func TestTombstoneHorizon(t *testing.T) {
	w := newWriter(t, 1)
	r := newReplica(t, Settings{Name: "chat", TombstoneHorizon: time.Hour})
	now := time.Now()
	if n := insert(t, r, seal(t, w, "chat", "old", now.Add(-2*time.Hour).UnixNano(), nil)); n != 0 {
		t.Fatal("a tombstone past the horizon was taken")
	}
	insert(t, r, seal(t, w, "chat", "k", now.UnixNano(), nil))
	if st := r.Status(); st.Tombstones != 1 {
		t.Fatalf("%+v, want one tombstone", st)
	}
	r.now = func() time.Time { return now.Add(2 * time.Hour) }
	insert(t, r, seal(t, w, "chat", "other", now.Add(time.Hour).UnixNano(), []byte("v")))
	if st := r.Status(); st.Tombstones != 0 || st.Records != 1 {
		t.Fatalf("%+v: the tombstone outlived the horizon", st)
	}
}

// TestLatest checks that a replica reports the latest clock it has held,
// loaded records included, and that it never goes back.
func TestLatest(t *testing.T) {
	w, other := newWriter(t, 1), newWriter(t, 2)
	d := dssync.MutexWrap(ds.NewMapDatastore())
	r := openOn(t, d, Settings{Name: "chat"})
	if got := r.Latest(); got != (envelope.Timestamp{}) {
		t.Fatalf("an empty replica's latest clock is %v", got)
	}
	insert(t, r, seal(t, w, "chat", "a", 300, []byte("a")), seal(t, other, "chat", "b", 200, []byte("b")))
	insert(t, r, seal(t, other, "chat", "c", 100, []byte("c")))
	if got := r.Latest(); got.Wall != 300 {
		t.Fatalf("latest clock %v, want wall 300", got)
	}
	if got := openOn(t, d, Settings{Name: "chat"}).Latest(); got.Wall != 300 {
		t.Fatalf("reopened, the latest clock is %v, want wall 300", got)
	}
}

// TestRecordLargerThanTheBound: a record larger than its writer's byte
// bound is not taken and drops none of the writer's other records.
func TestRecordLargerThanTheBound(t *testing.T) {
	w := newWriter(t, 1)
	r := newReplica(t, Settings{Name: "chat", MaxBytesPerWriter: 300})
	small := seal(t, w, "chat", "small", 1, []byte("v"))
	if n := insert(t, r, small); n != 1 {
		t.Fatalf("%d stored", n)
	}
	if n := insert(t, r, seal(t, w, "chat", "big", 2, make([]byte, 400))); n != 0 {
		t.Fatalf("a record over the writer's bound was stored")
	}
	if st := r.Status(); st.Records != 1 || st.Bytes != int64(len(small.Data)) {
		t.Fatalf("%+v: want the small record alone", st)
	}
}

// TestRoundWithOneForgedRecord: a round of many records (verified on
// several goroutines) with one forged among them ends the session with the
// signature's error, stores none of the round, and counts one refusal, as
// when a round's records were verified one after another.
func TestRoundWithOneForgedRecord(t *testing.T) {
	for _, v := range Versions {
		t.Run(fmt.Sprint("version ", int(v)), func(t *testing.T) { testRoundWithOneForgedRecord(t, v) })
	}
}

// testRoundWithOneForgedRecord: a message of records alone, one forged,
// ends the session with the forged record's error and stores none of
// them; a side of version 2 replies before it takes them, and sends the
// error after.
func testRoundWithOneForgedRecord(t *testing.T, version Version) {
	w := newWriter(t, 1)
	r := newReplica(t, Settings{Name: "chat"})
	var recs []WireRecord
	for i := range 300 {
		v := seal(t, w, "chat", fmt.Sprintf("k%03d", i), int64(i+1), []byte("v"))
		data := v.Data
		if i == 150 {
			e := *v.Env
			e.Signature = slices.Clone(e.Signature)
			e.Signature[0] ^= 0xff
			b, err := e.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			data = b
		}
		recs = append(recs, WireRecord{Key: []byte(v.Env.Key), Envelope: data})
	}
	ca, cb := conns(t)
	answers := make(chan []*Message, 1)
	go func() {
		_, _, _ = version.ReadMessage(cb)
		_, _ = version.WriteMessage(cb, &Message{Records: recs})
		_ = cb.CloseWrite()
		var got []*Message
		for {
			m, _, err := version.ReadMessage(cb)
			if err != nil {
				break
			}
			got = append(got, m)
		}
		answers <- got
	}()
	_, err := r.ReconcileVersion(context.Background(), ca, version, "forger", nil)
	if !errors.Is(err, envelope.ErrSignature) {
		t.Fatalf("the session ended with %v, want the forged record's signature error", err)
	}
	got := <-answers
	want := 1 // the error
	if version.pipelines() {
		want = 2 // the reply, then the error
	}
	if len(got) != want || got[len(got)-1].Error == "" || want == 2 && !got[0].empty() {
		t.Errorf("the replica answered the records with %d messages (%+v), want %d ending with the error", len(got), got, want)
	}
	if n := len(r.Items()); n != 0 {
		t.Errorf("the replica holds %d records of the round, want none", n)
	}
	if got := r.Refused()[RefusedSignature]; got != 1 {
		t.Errorf("%d refusals for the signature counted, want 1", got)
	}
}
