package pluginpython

import (
	"bytes"
	"io"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
	"github.com/netabase/netabase/plugins/wire"
)

// TestNegotiation checks the version the plugin answers at the handshake:
// the newest it speaks of those offered, at most its cap.
func TestNegotiation(t *testing.T) {
	needPython(t)
	all := wire.Versions
	for _, tc := range []struct {
		cap     string
		offered []int
		want    int
	}{
		{"", all, wire.ProtocolV3},
		{"3", all, wire.ProtocolV3},
		{"1", all, wire.ProtocolV1},
		{"", []int{wire.ProtocolV1, wire.ProtocolV2}, wire.ProtocolV1},
		{"", []int{wire.ProtocolV1}, wire.ProtocolV1},
	} {
		t.Setenv(maxProtocolEnv, tc.cap)
		_, c, _, err := startVersions(t, tc.offered...)
		if err != nil {
			t.Errorf("cap %q, offered %v: %v", tc.cap, tc.offered, err)
			continue
		}
		if got := c.NegotiatedVersion(); got != tc.want {
			t.Errorf("cap %q, offered %v: the plugin chose version %d; want %d", tc.cap, tc.offered, got, tc.want)
		}
		c.Kill()
	}
	// A cap it does not speak stops the plugin before the handshake.
	t.Setenv(maxProtocolEnv, "2")
	if _, _, _, err := startVersions(t, all...); err == nil {
		t.Errorf("with %s=2 the plugin started; want it refused", maxProtocolEnv)
	}
}

// frame is the mutation frame of the records given.
func frame(recs ...wire.Record) []byte {
	var f wire.Frame
	for _, r := range recs {
		if r.Kind == wire.KindDelete {
			f.Delete(r.Key)
		} else {
			f.Put(r.Key, r.Value)
		}
	}
	return bytes.Clone(f.Bytes())
}

func put(k, v string) wire.Record {
	return wire.Record{Kind: wire.KindPut, Key: []byte(k), Value: []byte(v)}
}
func del(k string) wire.Record { return wire.Record{Kind: wire.KindDelete, Key: []byte(k)} }

// TestProtocolV3 speaks netabase.storage.v3 to the plugin directly: groups
// of mutations in frames, split over messages, refused whole, synced;
// query results in entry frames; and malformed frames or groups out of
// sequence ending the write stream with INVALID_ARGUMENT.
func TestProtocolV3(t *testing.T) {
	needPython(t)
	t.Setenv(maxProtocolEnv, "")
	conn, c, _, err := startVersions(t, wire.Versions...)
	if err != nil {
		t.Fatal(err)
	}
	if v := c.NegotiatedVersion(); v != wire.ProtocolV3 {
		t.Fatalf("the plugin chose version %d; want 3", v)
	}
	ctx := t.Context()
	st := pb3.NewStorageClient(conn)
	o, err := st.Open(ctx, &pb.OpenRequest{Options: []*pb.Option{{Name: "path", Value: filepath.Join(t.TempDir(), "store.db")}}})
	if err != nil || o.GetError() != nil {
		t.Fatalf("Open: %v, %v", o.GetError(), err)
	}
	if o.GetSyncWrites() || o.GetSeeks() {
		t.Errorf("Open with sync=false: %v; want sync_writes and seeks false", o)
	}

	w, err := st.Write(ctx)
	if err != nil {
		t.Fatal(err)
	}
	answer := func(what string, seq uint64, applied int64) *pb2.WriteResponse {
		t.Helper()
		r, err := w.Recv()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if r.GetSeq() != seq || r.GetApplied() != applied {
			t.Errorf("%s: answer seq %d applied %d (%v); want seq %d applied %d", what, r.GetSeq(), r.GetApplied(), r.GetError(), seq, applied)
		}
		return r
	}
	send := func(m *pb3.WriteFrame) {
		t.Helper()
		if err := w.Send(m); err != nil {
			t.Fatal(err)
		}
	}
	// Group 1, in two messages: a put and a delete, then a put and an empty value.
	send(&pb3.WriteFrame{Seq: 1, More: true, Mutations: frame(put("/a", "xyz"), put("/b", "gone"), del("/b"))})
	send(&pb3.WriteFrame{Seq: 1, Mutations: frame(put("/c", "c"), put("/e", ""))})
	if r := answer("group 1", 1, 5); r.GetError() != nil {
		t.Errorf("group 1: %v", r.GetError())
	}
	// Group 2 holds an invalid key: none of it is applied.
	send(&pb3.WriteFrame{Seq: 2, Mutations: frame(put("/d", "d"), put("/d//x", "x"))})
	wantCode(t, "a group with an invalid key", answer("group 2", 2, 0).GetError(), pb.ErrorCode_ERROR_CODE_INVALID_KEY, "/d//x")
	// Group 3: an empty frame that syncs.
	send(&pb3.WriteFrame{Seq: 3, Mutations: frame(), Sync: true, SyncPrefix: []byte("/")})
	if r := answer("group 3", 3, 0); r.GetError() != nil {
		t.Errorf("group 3 (sync): %v", r.GetError())
	}

	entries := func(q *pb2.QueryRequest, kinds []byte) []wire.Record {
		t.Helper()
		qs, err := st.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []wire.Record
		for {
			f, err := qs.Recv()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatalf("Query(%v): %v", q, err)
			}
			if f.GetError() != nil {
				t.Fatalf("Query(%v): %v", q, f.GetError())
			}
			recs, err := wire.DecodeFrame(f.GetEntries(), kinds)
			if err != nil {
				t.Fatalf("Query(%v): the plugin sent a malformed frame: %v", q, err)
			}
			out = append(out, recs...)
		}
	}
	show := func(recs []wire.Record) string {
		var b strings.Builder
		for _, r := range recs {
			switch r.Kind {
			case wire.KindPut:
				b.WriteString(string(r.Key) + "=" + string(r.Value) + " ")
			case wire.KindSize:
				b.WriteString(string(r.Key) + ":" + strconv.FormatInt(r.Size, 10) + " ")
			}
		}
		return b.String()
	}
	plain := func(q *pb.QueryRequest) *pb2.QueryRequest {
		return &pb2.QueryRequest{Query: &pb2.QueryRequest_Plain{Plain: q}}
	}
	if got, want := show(entries(plain(&pb.QueryRequest{Prefix: []byte("/")}), []byte{wire.KindPut})), "/a=xyz /c=c /e= "; got != want {
		t.Errorf("Query /: %q; want %q", got, want)
	}
	if got, want := show(entries(plain(&pb.QueryRequest{KeysOnly: true, ReturnsSizes: true}), []byte{wire.KindSize})), "/a:3 /c:1 /e:0 "; got != want {
		t.Errorf("Query keys only with sizes: %q; want %q", got, want)
	}
	// It declares no seeks: a Seek query is refused, saying so.
	qs, err := st.Query(ctx, &pb2.QueryRequest{Query: &pb2.QueryRequest_Seek{Seek: &pb2.Seek{Prefix: []byte("/")}}})
	if err != nil {
		t.Fatal(err)
	}
	if f, err := qs.Recv(); err != nil {
		t.Fatal(err)
	} else {
		wantCode(t, "a Seek query", f.GetError(), pb.ErrorCode_ERROR_CODE_REJECTED, "Seek")
	}

	// A malformed frame ends the stream with INVALID_ARGUMENT, applying nothing.
	send(&pb3.WriteFrame{Seq: 4, Mutations: append(frame(put("/f", "f")), 0)})
	if _, err := w.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "malformed") {
		t.Errorf("after a malformed frame: %v; want INVALID_ARGUMENT saying the frame is malformed", err)
	}
	// So does a group out of sequence, on a new stream.
	w, err = st.Write(ctx)
	if err != nil {
		t.Fatal(err)
	}
	send(&pb3.WriteFrame{Seq: 2, Mutations: frame(put("/g", "g"))})
	if _, err := w.Recv(); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "group 1 was due") {
		t.Errorf("after a group out of sequence: %v; want INVALID_ARGUMENT naming the group due", err)
	}
	for _, k := range []string{"/b", "/d", "/f", "/g"} {
		if h, err := st.Has(ctx, &pb.HasRequest{Key: []byte(k)}); err != nil || h.GetExists() {
			t.Errorf("Has(%s): %v, %v; want false", k, h.GetExists(), err)
		}
	}
}
