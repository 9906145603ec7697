package memstore_test

import (
	"context"
	"errors"
	"net/url"
	"testing"

	ds "github.com/ipfs/go-datastore"
	dstest "github.com/ipfs/go-datastore/test"

	"github.com/netabase/netabase/backends/memstore"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/conformance/conformancetest"
	"github.com/netabase/netabase/core"
)

type harness struct{}

func (harness) Capabilities() core.Capabilities { return memstore.Driver().About().Capabilities }

func (harness) NewInstance(context.Context) (conformance.Instance, error) { return instance{}, nil }

type instance struct{}

func (instance) Open(ctx context.Context) (ds.Batching, error) {
	s, err := memstore.Open(ctx, nil)
	if err != nil {
		return nil, err
	}
	return core.Wrap(s, memstore.Driver().About().Info())
}

func (instance) Destroy() error { return nil }

func TestConformance(t *testing.T) {
	conformancetest.Run(t, harness{})
}

// TestDatastoreSuite runs go-datastore's own suite as an outside check.
func TestDatastoreSuite(t *testing.T) {
	s, err := memstore.Open(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	dstest.SubtestAll(t, s)
}

func TestURLs(t *testing.T) {
	d := memstore.Driver()
	for _, tc := range []struct {
		url string
		ok  bool
	}{
		{"memory://", true},
		{"memory:///", true},
		{"memory://?sync=true", false},
		{"memory:///some/path", false},
		{"memory://host", false},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		_, err = d.Describe(t.Context(), u)
		if tc.ok != (err == nil) {
			t.Errorf("Describe(%s) = %v, want ok=%v", tc.url, err, tc.ok)
		}
		if err != nil && !errors.Is(err, core.ErrInvalidURL) {
			t.Errorf("Describe(%s) = %v, want an error matching ErrInvalidURL", tc.url, err)
		}
	}
}

func BenchmarkBackend(b *testing.B) {
	conformancetest.RunBenchmarks(b, harness{})
}
