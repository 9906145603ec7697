package crashdriver_test

import (
	"bytes"
	"context"
	"encoding/gob"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/conformance/crashdriver"
	"github.com/netabase/netabase/core"
)

func TestMain(m *testing.M) {
	crashdriver.ServeChild(fileDriver())
	os.Exit(m.Run())
}

// TestDurable runs the suite through a crash driver on an engine that keeps
// its data in memory and writes it to a file at each Sync and at Close: the
// durable case runs and passes. With lazy=true the engine writes only at
// Close, and the durable case, and no other, fails.
func TestDurable(t *testing.T) {
	for _, tc := range []struct {
		query  string
		failed []string
	}{
		{"", nil},
		{"lazy=true", []string{"durable"}},
	} {
		t.Run("lazy="+tc.query, func(t *testing.T) {
			d := crashdriver.New(fileDriver())
			u := &url.URL{Scheme: "file", Path: "/unused", RawQuery: tc.query}
			rep, err := conformance.Check(t.Context(), conformance.URLHarness(d, u, d.About().Info(), t.TempDir()))
			if err != nil {
				t.Fatal(err)
			}
			var failed []string
			for _, c := range rep.Failed() {
				failed = append(failed, c.Name)
			}
			if !slices.Equal(failed, tc.failed) {
				t.Fatalf("the suite failed %q, want %q:\n%s", failed, tc.failed, rep)
			}
			i := slices.IndexFunc(rep.Cases, func(c conformance.CaseResult) bool { return c.Name == "durable" })
			if i < 0 || rep.Cases[i].Status == conformance.Skip {
				t.Fatalf("the durable case did not run:\n%s", rep)
			}
		})
	}
}

// TestOpenError checks that Open fails with the child's error when the
// child cannot open the store.
func TestOpenError(t *testing.T) {
	d := crashdriver.New(fileDriver())
	u := &url.URL{Scheme: "file", Path: filepath.Join(t.TempDir(), "db"), RawQuery: "fail-open=true"}
	_, err := d.Open(t.Context(), u)
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("refusing to open")) {
		t.Fatalf("Open of a store the child cannot open: %v; want the child's error", err)
	}
}

// fileStore is a map that a file under dir makes durable.
type fileStore struct {
	*ds.MapDatastore
	file string
	lazy bool
}

type fileOptions struct {
	dir        string
	lazy, fail bool
}

func fileDriver() core.Driver {
	about := core.About{Scheme: "file", Name: "file", Version: "test", Dir: true,
		Capabilities: core.Capabilities{Persistent: true, Durable: true}}
	parse := func(u *url.URL) (fileOptions, error) {
		q := u.Query()
		return fileOptions{dir: u.Path, lazy: q.Get("lazy") == "true", fail: q.Get("fail-open") == "true"}, nil
	}
	return core.NewDriver(about, parse, func(ctx context.Context, o fileOptions) (ds.Batching, error) {
		if o.fail {
			return nil, errors.New("refusing to open, as asked")
		}
		return openFile(ctx, o)
	})
}

func openFile(ctx context.Context, o fileOptions) (ds.Batching, error) {
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return nil, err
	}
	s := &fileStore{MapDatastore: ds.NewMapDatastore(), file: filepath.Join(o.dir, "data"), lazy: o.lazy}
	b, err := os.ReadFile(s.file)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	var m map[string][]byte
	if err := gob.NewDecoder(bytes.NewReader(b)).Decode(&m); err != nil {
		return nil, err
	}
	for k, v := range m {
		if err := s.MapDatastore.Put(ctx, ds.RawKey(k), v); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *fileStore) Sync(ctx context.Context, _ ds.Key) error {
	if s.lazy {
		return nil
	}
	return s.save(ctx)
}

func (s *fileStore) Close() error { return s.save(context.Background()) }

// save writes the data to a new file and renames it over the old one.
func (s *fileStore) save(ctx context.Context) error {
	res, err := s.MapDatastore.Query(ctx, dsq.Query{})
	if err != nil {
		return err
	}
	es, err := res.Rest()
	if err != nil {
		return err
	}
	m := make(map[string][]byte, len(es))
	for _, e := range es {
		m[e.Key] = e.Value
	}
	var b bytes.Buffer
	if err := gob.NewEncoder(&b).Encode(m); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(s.file), "data-*")
	if err != nil {
		return err
	}
	_, err = f.Write(b.Bytes())
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), s.file)
	}
	return err
}
