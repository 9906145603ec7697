package page_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/model"
	"github.com/netabase/netabase/core/page"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/internal/testkit/nodetest"
)

var (
	_ model.Replica = (*page.Synced)(nil)
	_ model.Network = (*page.Page)(nil)
)

var testContext = nodetest.Context

// memory opens a fresh memory store, as a page's admitted store.
func memory(t testing.TB) core.Backend {
	t.Helper()
	u, _ := url.Parse("memory://")
	b, err := core.OpenURL(testContext(t), memstore.Driver(), u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// openPage opens a page on b, closed when the test ends.
func openPage(t testing.TB, b core.Backend, o *page.Options) *page.Page {
	t.Helper()
	p, err := page.Open(testContext(t), b, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func TestIdentityKeptAndExported(t *testing.T) {
	ctx := testContext(t)
	b := memory(t)
	first := openPage(t, b, nil)
	if first.ID() == "" || first.Identity().PrivateKey().Type() != crypto.Ed25519 {
		t.Fatalf("a new page's identity: %q", first.ID())
	}
	// A reload finds the same identity.
	if again := openPage(t, b, nil); again.ID() != first.ID() {
		t.Fatalf("reopened as %s, was %s", again.ID(), first.ID())
	}
	// Another browser does not, until the identity is imported there.
	other := memory(t)
	if p := openPage(t, other, nil); p.ID() == first.ID() {
		t.Fatal("two stores made the same identity")
	}
	text, err := first.Identity().Export()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(text, page.ExportPrefix) {
		t.Fatalf("exported text %q lacks its prefix", text)
	}
	id, err := page.Import(ctx, other, " "+text+"\n")
	if err != nil || id.ID() != first.ID() {
		t.Fatalf("Import: %s, %v", id.ID(), err)
	}
	if p := openPage(t, other, nil); p.ID() != first.ID() {
		t.Fatalf("after Import the page opened as %s, want %s", p.ID(), first.ID())
	}
}

func TestImportRefusesBadText(t *testing.T) {
	ctx := testContext(t)
	b := memory(t)
	p := openPage(t, b, nil)
	rsa, _, err := crypto.GenerateECDSAKeyPair(nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := crypto.MarshalPrivateKey(rsa)
	for _, c := range []struct{ name, text, want string }{
		{"no prefix", "CAESQ", "begins with"},
		{"not base64", page.ExportPrefix + "!!!", "not valid base64"},
		{"not a key", page.ExportPrefix + "AAAA", "no private key"},
		{"not Ed25519", page.ExportPrefix + encode(raw), "Ed25519"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := page.Import(ctx, b, c.text)
			if !errors.Is(err, core.ErrInvalidKey) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Import(%q): %v, want core.ErrInvalidKey saying %q", c.text, err, c.want)
			}
		})
	}
	if again := openPage(t, b, nil); again.ID() != p.ID() {
		t.Fatal("a refused import changed the kept identity")
	}
}

// TestOfflineWrites: with no daemon a page's writes are stored at once,
// signed by its identity, and a page opened again on its store holds them.
func TestOfflineWrites(t *testing.T) {
	ctx := testContext(t)
	b := memory(t)
	p := openPage(t, b, nil)
	settings := replica.Settings{Name: "notes"}
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first, err := s.Put(ctx, "k", []byte("one"))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Put(ctx, "k", []byte("two"))
	if err != nil {
		t.Fatal(err)
	}
	if second.Clock.Compare(first.Clock) <= 0 || second.Writer != p.ID() {
		t.Fatalf("the second write %+v is not dated after the first %+v, by the page", second, first)
	}
	if err := s.Delete(ctx, "none"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("Delete of a key the page never wrote: %v, want core.ErrNotFound", err)
	}
	if st := s.Status(); st.Records != 1 || st.Tombstones != 0 {
		t.Fatalf("after the Delete of a key not written: %d records, %d tombstones", st.Records, st.Tombstones)
	}
	if _, err := s.Put(ctx, "gone", []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if peers, err := s.CaughtUp(ctx, 0); err != nil || len(peers) != 0 {
		t.Fatalf("CaughtUp with no daemons: %v, %v", peers, err)
	}
	if err := s.Leave(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "k", []byte("after")); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Put after Leave: %v, want core.ErrClosed", err)
	}

	// A reload: the same identity, the same records.
	p2 := openPage(t, b, nil)
	s2, err := p2.JoinSync(ctx, settings, page.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := s2.Get(ctx, p2.ID(), "k")
	if err != nil || string(rec.Value) != "two" {
		t.Fatalf("after reopening: %q, %v", rec.Value, err)
	}
	if _, err := s2.Get(ctx, p2.ID(), "gone"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("a deleted key after reopening: %v", err)
	}
	// The clock passes the kept version.
	third, err := s2.Put(ctx, "k", []byte("three"))
	if err != nil || third.Clock.Compare(second.Clock) <= 0 {
		t.Fatalf("a write after reopening: %+v, %v", third, err)
	}
}

// TestNotAWriter: a page whose identity is not on the writer list is told
// at its write, which stores nothing.
func TestNotAWriter(t *testing.T) {
	ctx := testContext(t)
	p := openPage(t, memory(t), nil)
	other := openPage(t, memory(t), nil)
	s, err := p.JoinSync(ctx, replica.Settings{Name: "closed", Writers: []peer.ID{other.ID()}}, page.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Put(ctx, "k", []byte("v"))
	if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), "writer list") || !strings.Contains(err.Error(), p.ID().String()) {
		t.Fatalf("Put by a page not on the writer list: %v", err)
	}
	if st := s.Status(); st.Records != 0 {
		t.Fatalf("the refused write left %d records", st.Records)
	}
}

func TestJoinTwice(t *testing.T) {
	ctx := testContext(t)
	p := openPage(t, memory(t), nil)
	a, err := p.JoinSync(ctx, replica.Settings{Name: "notes"}, page.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := p.JoinSync(ctx, replica.Settings{Name: "notes"}, page.SyncOptions{}); err != nil || b != a {
		t.Fatalf("joining again with the same settings: %v", err)
	}
	if _, err := p.JoinSync(ctx, replica.Settings{Name: "notes", MaxRecordsPerWriter: 5}, page.SyncOptions{}); err == nil || !strings.Contains(err.Error(), "leave it first") {
		t.Fatalf("joining again with other settings: %v", err)
	}
	if _, err := p.JoinSync(ctx, replica.Settings{Name: "other"}, page.SyncOptions{Daemons: []string{"http://127.0.0.1:1/x"}}); !errors.Is(err, core.ErrInvalidKey) {
		t.Fatalf("a daemon that is not a ws:// URL: %v", err)
	}
}

// TestNetwork: a page publishes nothing to a DHT, and fetches only
// through a gateway.
func TestNetwork(t *testing.T) {
	ctx := testContext(t)
	p := openPage(t, memory(t), nil)
	if _, err := p.PublishRecord(ctx, "x", "x", 1, nil); !errors.Is(err, core.ErrUnsupported) {
		t.Fatalf("PublishRecord: %v, want core.ErrUnsupported", err)
	}
	if _, err := p.FetchRecord(ctx, "/netabase/"+p.ID().String()+"/x"); !errors.Is(err, core.ErrUnsupported) || !strings.Contains(err.Error(), "Options.Gateway") {
		t.Fatalf("FetchRecord with no gateway: %v", err)
	}
	if _, err := page.Open(ctx, memory(t), &page.Options{Gateway: "ftp://x"}); err == nil {
		t.Fatal("a gateway that is not an http:// URL was taken")
	}
}

// User is a typed value of a synced collection.
type User struct {
	Name  string `netabase:"key"`
	Email string `netabase:"index,unique"`
}

// TestTypedOffline: a typed collection over a page's Synced, with no
// daemon: Put, Get, Scan, Watch, Delete.
func TestTypedOffline(t *testing.T) {
	ctx := testContext(t)
	p := openPage(t, memory(t), nil)
	rep, err := p.JoinSync(ctx, replica.Settings{Name: "users"}, page.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st := model.New(p)
	t.Cleanup(func() { _ = st.Close() })
	users, err := model.OpenSynced[string, User](ctx, st, rep)
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	events := users.Watch(wctx)
	if err := users.Put(ctx, User{Name: "ada", Email: "ada@example.org"}); err != nil {
		t.Fatal(err)
	}
	got, err := users.Get(ctx, "ada")
	if err != nil || got.Email != "ada@example.org" {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	if recs := records(t, rep); len(recs) != 1 || recs[0].Writer != p.ID() {
		t.Fatalf("the replica's records after the put: %+v", recs)
	}
	n := 0
	for u, err := range users.Scan(ctx) {
		if err != nil || u.Name != "ada" {
			t.Fatalf("Scan: %+v, %v", u, err)
		}
		n++
	}
	if n != 1 {
		t.Fatalf("Scan yielded %d values", n)
	}
	for ev, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Kind == model.Put && ev.Key == "ada" && ev.Owner == p.ID() {
			break
		}
	}
	if err := users.Delete(ctx, "ada"); err != nil {
		t.Fatal(err)
	}
	if recs := records(t, rep); len(recs) != 0 {
		t.Fatalf("after Delete the replica holds %+v", recs)
	}
}

func encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// records are s's live records.
func records(t testing.TB, s *page.Synced) []replica.Record {
	t.Helper()
	var out []replica.Record
	for rec, err := range s.Records(testContext(t)) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// TestTypedFromAnotherWriter: a typed collection over a page's Synced
// shows another writer's value once its record enters the page's replica
// as a daemon's record does (verified, from a peer), in its watch and then
// in GetFrom, under js/wasm as natively; the record is the one that writer's
// own typed Put signed, taken from its replica's watch.
func TestTypedFromAnotherWriter(t *testing.T) {
	ctx := testContext(t)
	settings := replica.Settings{Name: "users"}
	open := func() (*page.Page, *page.Synced, *model.Collection[string, User]) {
		p := openPage(t, memory(t), nil)
		rep, err := p.JoinSync(ctx, settings, page.SyncOptions{})
		if err != nil {
			t.Fatal(err)
		}
		st := model.New(p)
		t.Cleanup(func() { _ = st.Close() })
		users, err := model.OpenSynced[string, User](ctx, st, rep)
		if err != nil {
			t.Fatal(err)
		}
		return p, rep, users
	}
	pa, repA, usersA := open()
	pb, repB, usersB := open()
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	signed := repB.Watch(wctx)
	events := usersA.Watch(wctx)
	if err := usersB.Put(ctx, User{Name: "grace", Email: "grace@example.org"}); err != nil {
		t.Fatal(err)
	}
	var data []byte
	for c := range signed {
		if c.Writer == pb.ID() && c.Missed == 0 {
			data = c.Data
			break
		}
	}
	v, err := repA.Replica().Verify(data)
	if err != nil {
		t.Fatalf("page B's record, verified on page A: %v", err)
	}
	if n, err := repA.Replica().Insert(ctx, pb.ID(), []replica.Verified{v}); err != nil || n != 1 {
		t.Fatalf("page B's record, stored on page A: %d, %v", n, err)
	}
	for ev, err := range events {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Key == "grace" {
			if ev.Owner != pb.ID() || ev.New == nil || ev.New.Email != "grace@example.org" {
				t.Fatalf("page A's watch: %+v, want page B's grace", ev)
			}
			break
		}
	}
	got, err := usersA.GetFrom(ctx, pb.ID(), "grace")
	if err != nil || got.Email != "grace@example.org" {
		t.Fatalf("page A's GetFrom(page B, grace): %+v, %v", got, err)
	}
	if _, err := usersA.Get(ctx, "grace"); !errors.Is(err, core.ErrNotFound) {
		t.Fatalf("page A's Get(grace), its own value: %v, want not found (page B's is not page A's)", err)
	}
	if pa.ID() == pb.ID() {
		t.Fatal("the two pages have one identity")
	}
}
