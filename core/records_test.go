package core_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	dssync "github.com/ipfs/go-datastore/sync"
	"github.com/libp2p/go-libp2p-kad-dht/records"
	record "github.com/libp2p/go-libp2p-record"
	recpb "github.com/libp2p/go-libp2p-record/pb"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/host/peerstore/pstoremem"
	"github.com/multiformats/go-base32"
	"google.golang.org/protobuf/proto"

	"github.com/netabase/netabase/core"
)

// testKey returns a deterministic ed25519 key pair's public key and peer ID.
func testKey(t *testing.T, seed uint64) (crypto.PubKey, peer.ID) {
	t.Helper()
	var s [32]byte
	binary.LittleEndian.PutUint64(s[:], seed)
	_, pub, err := crypto.GenerateEd25519Key(rand.NewChaCha8(s))
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pub, id
}

func testPeer(t *testing.T, seed uint64) peer.ID {
	t.Helper()
	_, id := testKey(t, seed)
	return id
}

// datastores are the two ways a node may hand its store to the DHT: the
// engine itself, or the engine with core's rules applied.
func datastores(t *testing.T) map[string]func() ds.Batching {
	return map[string]func() ds.Batching{
		"raw": func() ds.Batching { return dssync.MutexWrap(ds.NewMapDatastore()) },
		"wrapped": func() ds.Batching {
			return wrapFake(t, dssync.MutexWrap(ds.NewMapDatastore()), core.Capabilities{})
		},
	}
}

// permissive accepts every value and prefers the first.
type permissive struct{}

func (permissive) Validate(string, []byte) error        { return nil }
func (permissive) Select(string, [][]byte) (int, error) { return 0, nil }

var validator = record.NamespacedValidator{
	"test":      permissive{},
	"providers": permissive{},
	"pk":        record.PublicKeyValidator{},
}

type recordCase struct {
	name  string
	key   string
	value []byte
}

func recordCases(t *testing.T) []recordCase {
	pub, id := testKey(t, 1)
	pubBytes, err := crypto.MarshalPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return []recordCase{
		{"simple", "/test/simple", []byte("value")},
		{"nested", "/test/a/b/c", []byte("nested value")},
		{"binary", "/test/\x00\xff\x01/\n", []byte{0, 1, 2, 255}},
		{"empty value", "/test/empty", []byte{}},
		{"providers namespace", "/providers/a-value-record", []byte("not a provider record")},
		{"public key", "/pk/" + string(id), pubBytes},
	}
}

// only returns the single entry of d, failing unless there is exactly one.
func only(t *testing.T, d ds.Datastore) dsq.Entry {
	t.Helper()
	res, err := d.Query(context.Background(), dsq.Query{})
	if err != nil {
		t.Fatal(err)
	}
	es, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 1 {
		t.Fatalf("the datastore holds %d entries, want 1: %q", len(es), keysOf(es))
	}
	return es[0]
}

func within(got, before, after time.Time) bool {
	return !got.Before(before) && !got.After(after)
}

func TestRecordWrittenByKadDHTIsReadByRecordStore(t *testing.T) {
	ctx := context.Background()
	for dname, newDS := range datastores(t) {
		for _, tc := range recordCases(t) {
			t.Run(dname+"/"+tc.name, func(t *testing.T) {
				d := newDS()
				vs := records.NewValueStore(d, validator, 0)
				before := time.Now()
				if err := vs.Put(ctx, tc.key, record.MakePutRecord(tc.key, tc.value)); err != nil {
					t.Fatalf("kad-dht Put: %v", err)
				}
				after := time.Now()

				if e := only(t, d); e.Key != core.RecordKey(tc.key).String() {
					t.Errorf("kad-dht filed the record under %s, core.RecordKey says %s", e.Key, core.RecordKey(tc.key))
				}
				rs := core.NewRecordStore(d)
				rec, err := rs.Get(ctx, tc.key)
				if err != nil {
					t.Fatalf("RecordStore.Get: %v", err)
				}
				if rec.Key != tc.key || !bytes.Equal(rec.Value, tc.value) || !within(rec.Received, before, after) {
					t.Errorf("got %q = %q received %v; want %q = %q received between %v and %v",
						rec.Key, rec.Value, rec.Received, tc.key, tc.value, before, after)
				}
				ns := strings.Split(tc.key, "/")[1]
				var listed []core.Record
				for r, err := range rs.Records(ctx, ns) {
					if err != nil {
						t.Fatal(err)
					}
					listed = append(listed, r)
				}
				if len(listed) != 1 || listed[0].Key != tc.key || !bytes.Equal(listed[0].Value, tc.value) {
					t.Errorf("Records(%q) = %+v, want the one record", ns, listed)
				}
			})
		}
	}
}

func TestRecordWrittenByRecordStoreIsReadByKadDHT(t *testing.T) {
	ctx := context.Background()
	for dname, newDS := range datastores(t) {
		for _, tc := range recordCases(t) {
			t.Run(dname+"/"+tc.name, func(t *testing.T) {
				d := newDS()
				rs := core.NewRecordStore(d)
				received := time.Now().Add(-time.Minute)
				if err := rs.Put(ctx, core.Record{Key: tc.key, Value: tc.value, Received: received}); err != nil {
					t.Fatal(err)
				}
				// An age limit makes kad-dht parse the receive time: it
				// treats a record with an unreadable one as expired.
				vs := records.NewValueStore(d, validator, time.Hour)
				got, err := vs.Get(ctx, tc.key)
				if err != nil || got == nil {
					t.Fatalf("kad-dht Get: %v, %v", got, err)
				}
				if string(got.GetKey()) != tc.key || !bytes.Equal(got.GetValue(), tc.value) {
					t.Errorf("kad-dht read %q = %q, want %q = %q", got.GetKey(), got.GetValue(), tc.key, tc.value)
				}
				if want := received.UTC().Format(time.RFC3339Nano); got.GetTimeReceived() != want {
					t.Errorf("kad-dht read receive time %q, want %q", got.GetTimeReceived(), want)
				}

				// A record older than kad-dht's age limit is expired for it.
				if err := rs.Put(ctx, core.Record{Key: tc.key, Value: tc.value, Received: time.Now().Add(-2 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
				if got, err := vs.Get(ctx, tc.key); got != nil || err != nil {
					t.Errorf("kad-dht read a record older than its age limit: %v, %v", got, err)
				}
			})
		}
	}
}

func TestRecordStoreStampsReceiveTime(t *testing.T) {
	ctx := context.Background()
	rs := core.NewRecordStore(dssync.MutexWrap(ds.NewMapDatastore()))
	before := time.Now()
	if err := rs.Put(ctx, core.Record{Key: "/test/k", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	rec, err := rs.Get(ctx, "/test/k")
	if err != nil {
		t.Fatal(err)
	}
	if !within(rec.Received, before, after) {
		t.Errorf("received %v, want between %v and %v", rec.Received, before, after)
	}
}

func TestRecordStoreGetRemove(t *testing.T) {
	ctx := context.Background()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	rs := core.NewRecordStore(d)

	if _, err := rs.Get(ctx, "/test/missing"); !errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `"/test/missing"`) {
		t.Errorf("Get of a missing record: got %v, want ErrNotFound naming the key", err)
	}
	rec := core.Record{Key: "/test/k", Value: []byte("v"), Received: time.Unix(1700000000, 5).UTC()}
	if err := rs.Put(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if got, err := rs.Get(ctx, rec.Key); err != nil || got.Key != rec.Key || !bytes.Equal(got.Value, rec.Value) || !got.Received.Equal(rec.Received) {
		t.Errorf("Get = %+v, %v; want %+v", got, err, rec)
	}
	for range 2 { // removing a missing record is not an error
		if err := rs.Remove(ctx, rec.Key); err != nil {
			t.Fatalf("Remove: %v", err)
		}
	}
	if _, err := rs.Get(ctx, rec.Key); !errors.Is(err, core.ErrNotFound) {
		t.Errorf("Get after Remove: %v", err)
	}

	for _, key := range []string{"", "test", "/", "/test", "//x", "test/x"} {
		if err := rs.Put(ctx, core.Record{Key: key}); !errors.Is(err, core.ErrInvalidKey) {
			t.Errorf("Put(%q): got %v, want core.ErrInvalidKey", key, err)
		}
		if _, err := rs.Get(ctx, key); !errors.Is(err, core.ErrInvalidKey) {
			t.Errorf("Get(%q): got %v, want core.ErrInvalidKey", key, err)
		}
		if err := rs.Remove(ctx, key); !errors.Is(err, core.ErrInvalidKey) {
			t.Errorf("Remove(%q): got %v, want core.ErrInvalidKey", key, err)
		}
	}
	if e, _ := d.Query(ctx, dsq.Query{}); e != nil {
		if es, _ := e.Rest(); len(es) != 0 {
			t.Errorf("invalid keys left %q in the datastore", keysOf(es))
		}
	}
}

func TestRecordStorePutRefusesUnwritableReceiveTime(t *testing.T) {
	ctx := context.Background()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	rs := core.NewRecordStore(d)
	for _, received := range []time.Time{
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(0, 1, 1, 0, 30, 0, 0, time.FixedZone("east", 3600)), // year -1 in UTC
	} {
		err := rs.Put(ctx, core.Record{Key: "/test/k", Received: received})
		if !errors.Is(err, core.ErrRejected) || !strings.Contains(err.Error(), `"/test/k"`) {
			t.Errorf("Put received %v: got %v, want an error matching core.ErrRejected naming the key", received, err)
		}
	}
	if has, err := d.Has(ctx, core.RecordKey("/test/k")); has || err != nil {
		t.Errorf("a refused record was stored: %v, %v", has, err)
	}
	for _, received := range []time.Time{
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
	} {
		if err := rs.Put(ctx, core.Record{Key: "/test/k", Received: received}); err != nil {
			t.Errorf("Put received %v: %v", received, err)
		}
		if got, err := rs.Get(ctx, "/test/k"); err != nil || !got.Received.Equal(received) {
			t.Errorf("Get after Put received %v: %v, %v", received, got.Received, err)
		}
	}
}

func marshalRecord(t *testing.T, r *recpb.Record) []byte {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordStoreGetDamaged(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		stored  []byte
		wantErr string
	}{
		{"truncated", []byte{0x0a, 0x05, 'a'}, "damaged"},
		{"bad varint", []byte{0xff}, "damaged"},
		{"bad wire type", []byte{0x0f}, "damaged"},
		{"bad time", marshalRecord(t, &recpb.Record{Key: []byte("/test/k"), TimeReceived: "yesterday"}), "damaged"},
		{"another key", marshalRecord(t, &recpb.Record{Key: []byte("/test/other"), Value: []byte("v")}), `another key, "/test/other"`},
		{"empty", []byte{}, "another key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := dssync.MutexWrap(ds.NewMapDatastore())
			if err := d.Put(ctx, core.RecordKey("/test/k"), tc.stored); err != nil {
				t.Fatal(err)
			}
			_, err := core.NewRecordStore(d).Get(ctx, "/test/k")
			if err == nil || errors.Is(err, core.ErrNotFound) || !strings.Contains(err.Error(), `"/test/k"`) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("got %v, want an error naming the key and containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestRecordStoreRecordsSkipsOtherEntries(t *testing.T) {
	ctx := context.Background()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	rs := core.NewRecordStore(d)
	for _, k := range []string{"/test/a", "/test/b/c", "/other/d", "/providers/e"} {
		if err := rs.Put(ctx, core.Record{Key: k, Value: []byte(k)}); err != nil {
			t.Fatal(err)
		}
	}
	misfiled, err := d.Get(ctx, core.RecordKey("/test/a"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[ds.Key][]byte{
		core.RecordKey("/test/junk"):     {0xff},
		core.RecordKey("/test/misfiled"): misfiled,
		core.RecordKey("/test/empty"):    {},
		core.RecordKey("/test/bad-time"): marshalRecord(t, &recpb.Record{Key: []byte("/test/bad-time"), TimeReceived: "soon"}),
		ds.NewKey("/test/plain"):         []byte("an application's own data"),
		ds.NewKey("/test"):               marshalRecord(t, &recpb.Record{Key: []byte("/test/x")}),
		ds.NewKey("/providers/" + base32.RawStdEncoding.EncodeToString([]byte("k")) + "/" +
			base32.RawStdEncoding.EncodeToString([]byte(testPeer(t, 1)))): binary.AppendVarint(nil, time.Now().UnixNano()),
	} {
		if err := d.Put(ctx, k, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		namespace string
		want      []string
	}{
		{"test", []string{"/test/a", "/test/b/c"}},
		{"other", []string{"/other/d"}},
		{"providers", []string{"/providers/e"}},
		{"", []string{"/other/d", "/providers/e", "/test/a", "/test/b/c"}},
		{"none", nil},
	} {
		var got []string
		for r, err := range rs.Records(ctx, tc.namespace) {
			if err != nil {
				t.Fatalf("Records(%q): %v", tc.namespace, err)
			}
			if string(r.Value) != r.Key {
				t.Errorf("Records(%q): %s holds %q", tc.namespace, r.Key, r.Value)
			}
			got = append(got, r.Key)
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Records(%q) = %q, want %q", tc.namespace, got, tc.want)
		}
	}
}

func TestRecordStoreRecordsStopsAtError(t *testing.T) {
	f := newFakeEngine()
	b := wrapFake(t, f, core.Capabilities{})
	rs := core.NewRecordStore(b)
	ctx := context.Background()
	for _, k := range []string{"/test/a", "/test/b", "/test/c"} {
		if err := rs.Put(ctx, core.Record{Key: k}); err != nil {
			t.Fatal(err)
		}
	}
	f.fail("next", errBoom)
	f.nextFaultAfter = 1
	var got []string
	var errs []error
	for r, err := range rs.Records(ctx, "test") {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, r.Key)
	}
	if len(got) != 1 || len(errs) != 1 || !errors.Is(errs[0], errBoom) {
		t.Errorf("got records %q and errors %v; want one record, then the engine's error, then the end", got, errs)
	}
}

// providerIDs returns the IDs of ps.
func providerIDs(ps []core.Provider) []peer.ID {
	out := make([]peer.ID, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func sortedIDs(ids ...peer.ID) []peer.ID {
	return slices.Sorted(slices.Values(ids))
}

func providedBy(t *testing.T, s *core.ProviderStore, p peer.ID) [][]byte {
	t.Helper()
	var out [][]byte
	for k, err := range s.ProvidedBy(context.Background(), p) {
		if err != nil {
			t.Fatalf("ProvidedBy: %v", err)
		}
		out = append(out, k)
	}
	return out
}

// inKeyOrder sorts provided keys as the datastore orders their records.
func inKeyOrder(keys ...[]byte) [][]byte {
	return slices.SortedFunc(slices.Values(keys), func(a, b []byte) int {
		return strings.Compare(base32.RawStdEncoding.EncodeToString(a), base32.RawStdEncoding.EncodeToString(b))
	})
}

func newProviderManager(t *testing.T, self peer.ID, d ds.Batching) *records.ProviderManager {
	t.Helper()
	ps, err := pstoremem.NewPeerstore()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ps.Close() })
	pm, err := records.NewProviderManager(self, ps, d, records.CleanupInterval(0))
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

func TestProvidersWrittenByKadDHTAreReadByProviderStore(t *testing.T) {
	ctx := context.Background()
	self, p1, p2 := testPeer(t, 10), testPeer(t, 11), testPeer(t, 12)
	k1, k2, k3 := []byte("key one"), []byte{0, 255, '/', 7}, []byte("unprovided")
	for dname, newDS := range datastores(t) {
		t.Run(dname, func(t *testing.T) {
			d := newDS()
			pm := newProviderManager(t, self, d)
			before := time.Now()
			for _, add := range []struct {
				key []byte
				p   peer.ID
			}{{k1, p1}, {k1, p2}, {k2, p2}, {k1, self}} {
				if err := pm.AddProvider(ctx, add.key, peer.AddrInfo{ID: add.p}); err != nil {
					t.Fatal(err)
				}
			}
			after := time.Now()
			if err := pm.Close(); err != nil { // flushes the buffered writes
				t.Fatal(err)
			}

			s := core.NewProviderStore(d, 0)
			for _, tc := range []struct {
				key  []byte
				want []peer.ID
			}{{k1, sortedIDs(p1, p2, self)}, {k2, []peer.ID{p2}}, {k3, nil}} {
				got, err := s.Providers(ctx, tc.key)
				if err != nil {
					t.Fatal(err)
				}
				if !slices.Equal(providerIDs(got), tc.want) {
					t.Errorf("Providers(%q) = %v, want %v", tc.key, providerIDs(got), tc.want)
				}
				for _, p := range got {
					if !within(p.Added, before, after) {
						t.Errorf("Providers(%q): %v added %v, want between %v and %v", tc.key, p.ID, p.Added, before, after)
					}
				}
			}
			for _, tc := range []struct {
				p    peer.ID
				want [][]byte
			}{{p1, [][]byte{k1}}, {p2, inKeyOrder(k1, k2)}, {self, [][]byte{k1}}, {testPeer(t, 99), nil}} {
				if got := providedBy(t, s, tc.p); !slices.EqualFunc(got, tc.want, bytes.Equal) {
					t.Errorf("ProvidedBy(%v) = %q, want %q", tc.p, got, tc.want)
				}
			}
		})
	}
}

func TestProvidersWrittenByProviderStoreAreReadByKadDHT(t *testing.T) {
	ctx := context.Background()
	self, p1, p2, p3 := testPeer(t, 20), testPeer(t, 21), testPeer(t, 22), testPeer(t, 23)
	key := []byte("provided key")
	for dname, newDS := range datastores(t) {
		t.Run(dname, func(t *testing.T) {
			d := newDS()
			s := core.NewProviderStore(d, 0)
			for _, p := range []peer.ID{p1, p2} {
				if err := s.Add(ctx, key, p); err != nil {
					t.Fatal(err)
				}
			}
			// Older than kad-dht's provide validity: it must read the time
			// to drop it.
			if err := s.AddAt(ctx, key, p3, time.Now().Add(-core.DefaultProvideValidity-time.Hour)); err != nil {
				t.Fatal(err)
			}

			pm := newProviderManager(t, self, d)
			defer pm.Close()
			infos, err := pm.GetProviders(ctx, key)
			if err != nil {
				t.Fatal(err)
			}
			var got []peer.ID
			for _, ai := range infos {
				got = append(got, ai.ID)
			}
			slices.Sort(got)
			if want := sortedIDs(p1, p2); !slices.Equal(got, want) {
				t.Errorf("kad-dht GetProviders = %v, want %v", got, want)
			}
		})
	}
}

func TestProviderStoreSkipsAndCollectsBadRecords(t *testing.T) {
	ctx := context.Background()
	d := dssync.MutexWrap(ds.NewMapDatastore())
	s := core.NewProviderStore(d, time.Hour)
	good, expired, garbled := testPeer(t, 30), testPeer(t, 31), testPeer(t, 32)
	key := []byte("k")
	b32 := base32.RawStdEncoding.EncodeToString
	prefix := "/providers/" + b32(key)

	if err := s.Add(ctx, key, good); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAt(ctx, key, expired, time.Now().Add(-2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	now := binary.AppendVarint(nil, time.Now().UnixNano())
	bad := map[string][]byte{
		prefix + "/" + b32([]byte(garbled)):           {0x80}, // an unfinished varint
		prefix + "/" + b32([]byte("not a peer")):      now,
		prefix + "/not-base32!":                       now,
		prefix:                                        now, // no peer segment
		"/providers/not-base32!/" + b32([]byte(good)): now,
	}
	for k, v := range bad {
		if err := d.Put(ctx, ds.NewKey(k), v); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Put(ctx, ds.NewKey("/other/data"), []byte("x")); err != nil {
		t.Fatal(err)
	}

	got, err := s.Providers(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if ids := providerIDs(got); !slices.Equal(ids, []peer.ID{good}) {
		t.Errorf("Providers = %v, want only %v", ids, good)
	}
	for _, tc := range []struct {
		p    peer.ID
		want int
	}{{good, 1}, {expired, 0}, {garbled, 0}} {
		if got := providedBy(t, s, tc.p); len(got) != tc.want {
			t.Errorf("ProvidedBy(%v) = %q, want %d keys", tc.p, got, tc.want)
		}
	}

	n, err := s.CollectExpired(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(bad) + 1; n != want {
		t.Errorf("CollectExpired deleted %d records, want %d", n, want)
	}
	res, err := d.Query(ctx, dsq.Query{KeysOnly: true, Orders: []dsq.Order{dsq.OrderByKey{}}})
	if err != nil {
		t.Fatal(err)
	}
	left, err := res.Rest()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"/other/data", prefix + "/" + b32([]byte(good))}; !slices.Equal(keysOf(left), want) {
		t.Errorf("after CollectExpired the datastore holds %q, want %q", keysOf(left), want)
	}
	if n, err := s.CollectExpired(ctx); n != 0 || err != nil {
		t.Errorf("a second CollectExpired: %d, %v; want 0, nil", n, err)
	}
}

func TestProviderStoreValidityAndRemove(t *testing.T) {
	ctx := context.Background()
	s := core.NewProviderStore(dssync.MutexWrap(ds.NewMapDatastore()), -1)
	fresh, stale, p := testPeer(t, 40), testPeer(t, 41), testPeer(t, 42)
	key := []byte("k")
	if err := s.AddAt(ctx, key, fresh, time.Now().Add(-core.DefaultProvideValidity+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.AddAt(ctx, key, stale, time.Now().Add(-core.DefaultProvideValidity-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Add(ctx, key, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, key, p); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ctx, key, p); err != nil {
		t.Errorf("removing a missing record: %v", err)
	}
	got, err := s.Providers(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if ids := providerIDs(got); !slices.Equal(ids, []peer.ID{fresh}) {
		t.Errorf("with the default validity, Providers = %v, want only %v", ids, fresh)
	}

	if err := s.Add(ctx, nil, p); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("Add of an empty key: got %v, want core.ErrInvalidKey", err)
	}
	if err := s.Add(ctx, key, ""); !errors.Is(err, core.ErrInvalidKey) {
		t.Errorf("Add of an empty peer ID: got %v, want core.ErrInvalidKey", err)
	}
}
