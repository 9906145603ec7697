package wire

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
)

func TestErrorsRoundTrip(t *testing.T) {
	for _, s := range sentinels {
		err := Error("p", Code(fmt.Errorf("doing something: %w", s.err)))
		if !errors.Is(err, s.err) {
			t.Errorf("%v does not survive the wire: %v", s.err, err)
		}
	}
	if err := Error("p", Code(ds.ErrNotFound)); err != ds.ErrNotFound {
		t.Errorf("not found comes back as %v, not ds.ErrNotFound itself", err)
	}
	err := Error("p", Code(errors.New("disk on fire")))
	if !strings.Contains(err.Error(), "plugin p: disk on fire") || errors.Unwrap(err) != nil {
		t.Errorf("an internal error comes back as %v", err)
	}
	if Code(nil) != nil || Error("p", nil) != nil {
		t.Error("no error does not stay no error")
	}
	if err := Error("p", &pb.Error{Code: 999}); err == nil || errors.Unwrap(err) != nil {
		t.Errorf("an unknown code from a newer plugin: %v", err)
	}
}

func TestKey(t *testing.T) {
	for _, b := range []string{"", "/", "a", "a/b", "/a/", "/a//b", "/a/./b", "/a/../b", "/" + strings.Repeat("x", core.MaxKeySize)} {
		if _, err := Key([]byte(b)); !errors.Is(err, core.ErrInvalidKey) {
			t.Errorf("Key(%q) = %v; want ErrInvalidKey", b, err)
		}
	}
	for _, b := range []string{"/a", "/a/b", "/\x00\xff"} {
		if k, err := Key([]byte(b)); err != nil || k.String() != b {
			t.Errorf("Key(%q) = %v, %v", b, k, err)
		}
	}
	if p, err := Prefix(nil); err != nil || p.String() != "/" {
		t.Errorf("Prefix(nil) = %v, %v", p, err)
	}
}

func TestQueryRoundTrip(t *testing.T) {
	q := dsq.Query{
		Prefix: "/a", KeysOnly: true, ReturnsSizes: true, Limit: 5, Offset: 2,
		Filters: []dsq.Filter{
			dsq.FilterKeyCompare{Op: dsq.GreaterThan, Key: "/a/b"},
			dsq.FilterKeyPrefix{Prefix: "/a/c"},
			dsq.FilterValueCompare{Op: dsq.NotEqual, Value: []byte("x")},
		},
		Orders: []dsq.Order{dsq.OrderByKeyDescending{}, dsq.OrderByValue{}},
	}
	w, whole := EncodeQuery(q)
	if !whole {
		t.Fatal("a query of standard filters and orders does not travel whole")
	}
	got, err := DecodeQuery(w)
	if err != nil || !reflect.DeepEqual(got, q) {
		t.Fatalf("round trip of %v = %v, %v", q, got, err)
	}
	custom := dsq.Query{Prefix: "/a", Limit: 3, Orders: []dsq.Order{dsq.OrderByFunction(func(a, b dsq.Entry) int { return 0 })}}
	if w, whole := EncodeQuery(custom); whole || string(w.Prefix) != "/a" || w.Limit != 0 {
		t.Errorf("a query with a custom order travels as %v, whole %v; want its prefix alone", w, whole)
	}
	for _, bad := range []*pb.QueryRequest{
		{Limit: -1},
		{Offset: 1 << 50},
		{Orders: []pb.Order{99}},
		{Filters: []*pb.Filter{{}}},
		{Filters: []*pb.Filter{{Filter: &pb.Filter_KeyCompare{KeyCompare: &pb.KeyCompare{Op: 42}}}}},
	} {
		if _, err := DecodeQuery(bad); err == nil {
			t.Errorf("DecodeQuery(%v) accepted it", bad)
		}
	}
}

func TestParseOptions(t *testing.T) {
	specs := []*pb.OptionSpec{
		{Name: "path", Kind: pb.OptionKind_OPTION_KIND_PATH, Required: true},
		{Name: "sync", Kind: pb.OptionKind_OPTION_KIND_BOOL, DefaultValue: "false"},
		{Name: "every", Kind: pb.OptionKind_OPTION_KIND_DURATION},
		{Name: "cache", Kind: pb.OptionKind_OPTION_KIND_SIZE},
		{Name: "n", Kind: pb.OptionKind_OPTION_KIND_INT},
	}
	opt := func(kv ...string) []*pb.Option {
		var out []*pb.Option
		for i := 0; i < len(kv); i += 2 {
			out = append(out, &pb.Option{Name: kv[i], Value: kv[i+1]})
		}
		return out
	}
	got, err := ParseOptions(specs, opt("path", "/x", "every", "90s", "cache", "64MiB", "n", "3"))
	want := map[string]any{"path": "/x", "sync": false, "every": 90 * time.Second, "cache": int64(64 << 20), "n": 3}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("ParseOptions = %v, %v; want %v", got, err, want)
	}
	for _, tc := range []struct {
		given []*pb.Option
		want  string
	}{
		{opt(), `option "path" is required`},
		{opt("path", "x"), "want an absolute path"},
		{opt("path", "/x", "sync", "maybe"), `option "sync": want true or false`},
		{opt("path", "/x", "path", "/y"), "more than once"},
		{opt("path", "/x", "colour", "blue"), `unknown option "colour" (this plugin accepts only "path", "sync", "every", "cache", "n")`},
		{opt("path", "/x", "n", "-1"), "non-negative integer"},
		{opt("path", "/x", "cache", "lots"), "size such as"},
		{opt("path", "/x", "every", "soon"), "duration such as"},
	} {
		_, err := ParseOptions(specs, tc.given)
		if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseOptions(%v) = %v; want an ErrInvalidOptions saying %q", tc.given, err, tc.want)
		}
	}
	if _, err := ParseValue(pb.OptionKind(77), "x"); err == nil {
		t.Error("an unknown kind parses")
	}
}
