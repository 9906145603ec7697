package host

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"
	"google.golang.org/grpc"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	"github.com/netabase/netabase/plugins/wire"
)

// fakeStream is the host's end of a Write stream whose answers the test
// gives: every request sent shows up on sent, and Recv returns what the
// test puts on answers.
type fakeStream struct {
	grpc.ClientStream
	sent    chan *pb2.WriteRequest
	answers chan *pb2.WriteResponse
	ended   chan struct{}
}

func (f *fakeStream) Send(r *pb2.WriteRequest) error {
	select {
	case f.sent <- r:
		return nil
	case <-f.ended:
		return io.EOF
	}
}

func (f *fakeStream) Recv() (*pb2.WriteResponse, error) {
	select {
	case r := <-f.answers:
		return r, nil
	case <-f.ended:
		return nil, io.EOF
	}
}

func (f *fakeStream) CloseSend() error { return nil }

// newFakeWriter returns a writer of a store without sync_writes on a
// fake stream, with its loops running; they end with the test.
func newFakeWriter(t *testing.T) (*writer, *fakeStream) {
	t.Helper()
	f := &fakeStream{sent: make(chan *pb2.WriteRequest, 16), answers: make(chan *pb2.WriteResponse), ended: make(chan struct{})}
	g := &generation{desc: &pb.DescribeResponse{Name: "fake"}, limit: time.Minute, done: make(chan struct{})}
	w := &writer{g: g, name: "fake", stream: f, cancel: func() {}, calls: &calls{}, changed: make(chan struct{}), nextSeq: 1}
	go w.sendLoop()
	go w.recvLoop()
	t.Cleanup(func() {
		w.fail(errWriterClosed)
		close(f.ended)
	})
	return w, f
}

// sentGroup waits for the last message of a group and returns it.
func sentGroup(t *testing.T, f *fakeStream) *pb2.WriteRequest {
	t.Helper()
	for {
		select {
		case r := <-f.sent:
			if !r.GetMore() {
				return r
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no group was sent within 10s")
		}
	}
}

// waitFor waits, bounded, until ok holds under w.mu.
func waitFor(t *testing.T, w *writer, what string, ok func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.wait(ctx, ok); err != nil {
		t.Fatalf("waiting until %s: %v", what, err)
	}
}

// TestConcurrentSyncsReportLoss checks that when a group of writes that
// were acknowledged when queued fails, every Sync that was waiting when
// the failure came reports it, not only the first to see it: here two
// Syncs from two goroutines, made after the writes and before the failing
// answer, each in its own group after the failed one. A Sync made after
// both have returned succeeds.
func TestConcurrentSyncsReportLoss(t *testing.T) {
	ctx := t.Context()
	w, f := newFakeWriter(t)
	muts := []*pb.Mutation{{Key: []byte("/a"), Value: []byte("1")}, {Key: []byte("/b"), Value: []byte("2")}}
	if err := w.write(ctx, muts); err != nil {
		t.Fatal(err)
	}
	first := sentGroup(t, f) // the writes, group 1
	errs := make(chan error, 2)
	go func() { errs <- w.sync(ctx, ds.NewKey("/")) }()
	waitFor(t, w, "the first Sync's group is sent", func() bool { return len(w.sent) == 2 })
	second := sentGroup(t, f)
	go func() { errs <- w.sync(ctx, ds.NewKey("/")) }()
	// The second Sync's group waits: two groups are in flight.
	waitFor(t, w, "the second Sync joins a group", func() bool { return w.open != nil && w.open.sync })

	f.answers <- &pb2.WriteResponse{Seq: first.GetSeq(), Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_REJECTED, Message: "disk gone"}}
	f.answers <- &pb2.WriteResponse{Seq: second.GetSeq()}
	third := sentGroup(t, f)
	if !third.GetSync() {
		t.Fatalf("the third group does not ask for a sync: %v", third)
	}
	f.answers <- &pb2.WriteResponse{Seq: third.GetSeq()}
	for i := range 2 {
		select {
		case err := <-errs:
			if err == nil || !errors.Is(err, core.ErrRejected) {
				t.Errorf("Sync %d of 2, made after 2 acknowledged writes that the plugin then failed to apply, returned %v; want the failure", i+1, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("a Sync did not return within 10s")
		}
	}

	// Reported to both: forgotten.
	go func() { errs <- w.sync(ctx, ds.NewKey("/")) }()
	fourth := sentGroup(t, f)
	f.answers <- &pb2.WriteResponse{Seq: fourth.GetSeq()}
	if err := <-errs; err != nil {
		t.Errorf("a Sync after the failure was reported: %v", err)
	}
}

// TestSyncWriteGivesUpOwnsNothing checks that a write on a store with
// sync_writes whose caller stops waiting (its context ends before the
// answer) leaves the caller's value with the caller: the group, sent
// after the write returned, carries the value as it was written, not what
// the caller put in the buffer since.
func TestSyncWriteGivesUpOwnsNothing(t *testing.T) {
	w, f := newFakeWriter(t)
	w.mu.Lock()
	w.syncWrites = true
	w.mu.Unlock()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	v := []byte("written")
	if err := w.write(ctx, []*pb.Mutation{{Key: []byte("/a"), Value: v}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("a write whose context had ended returned %v; want context.Canceled", err)
	}
	copy(v, "reused!")
	got := sentGroup(t, f)
	if s := string(got.GetMutations()[0].GetValue()); s != "written" {
		t.Errorf("the group sent after its write gave up carries %q; want %q, the value written", s, "written")
	}
}

// TestGroupsAreBounded checks that writes queued while groups travel go
// into groups of at most maxGroup bytes, in order, and that a write larger
// than that goes alone, whole, in a group of its own.
func TestGroupsAreBounded(t *testing.T) {
	ctx := t.Context()
	w, f := newFakeWriter(t)
	value := make([]byte, maxGroup/4)
	write := func(key string, v []byte) {
		t.Helper()
		if err := w.write(ctx, []*pb.Mutation{{Key: []byte(key), Value: v}}); err != nil {
			t.Fatal(err)
		}
	}
	// Two groups in flight, unanswered; what follows waits.
	write("/first", []byte("1"))
	first := sentGroup(t, f)
	write("/second", []byte("2"))
	second := sentGroup(t, f)
	keys := []string{"/a", "/b", "/c", "/d", "/e", "/f", "/g"}
	for _, k := range keys {
		write(k, value)
	}
	big := make([]byte, 2*maxGroup)
	write("/big", big)
	write("/last", []byte("3"))
	waitFor(t, w, "the writes are queued", func() bool { return w.open != nil && len(w.queued) > 0 })

	f.answers <- &pb2.WriteResponse{Seq: first.GetSeq(), Applied: 1}
	f.answers <- &pb2.WriteResponse{Seq: second.GetSeq(), Applied: 1}
	var got [][]string
	for range 4 {
		var group []string
		size := 0
		for {
			r := <-f.sent
			for _, m := range r.GetMutations() {
				group = append(group, string(m.GetKey()))
				size += len(m.GetKey()) + len(m.GetValue()) + mutationOverhead
			}
			if !r.GetMore() {
				f.answers <- &pb2.WriteResponse{Seq: r.GetSeq(), Applied: int64(len(group))}
				break
			}
		}
		if size > maxGroup && len(group) > 1 {
			t.Errorf("a group of %d bytes holds %d writes; a group takes writes up to %d bytes, and a larger write goes alone", size, len(group), maxGroup)
		}
		got = append(got, group)
	}
	want := [][]string{{"/a", "/b", "/c"}, {"/d", "/e", "/f"}, {"/g"}, {"/big"}}
	if fmt.Sprint(got[:3]) != fmt.Sprint(want[:3]) || fmt.Sprint(got[3]) != fmt.Sprint(want[3]) {
		t.Fatalf("the groups sent hold %v; want %v, then /last", got, want)
	}
	last := sentGroup(t, f)
	if k := string(last.GetMutations()[0].GetKey()); k != "/last" {
		t.Fatalf("the last group holds %q; want /last", k)
	}
}

// TestGroupKeepsBatchFrames checks that a write joining a group that holds
// a batch's frames goes into a frame of its own: the batch may send its
// frames again, when its Commit fails, and must send what it holds.
func TestGroupKeepsBatchFrames(t *testing.T) {
	var f wire.Frame
	f.Put([]byte("/batch"), []byte("1"))
	before := string(f.Bytes())
	gr := &group{}
	gr.frames = append(gr.frames, &f)
	gr.fixed = len(gr.frames)
	gr.encode([]*pb.Mutation{{Key: []byte("/single"), Value: []byte("2")}})
	if got := string(f.Bytes()); got != before {
		t.Fatalf("a write joining the group changed the batch's frame to %q; it was %q", got, before)
	}
	if len(gr.frames) != 2 || gr.frames[1].Len() != 1 {
		t.Fatalf("the group holds %d frames; want the batch's and one with the write", len(gr.frames))
	}
}
