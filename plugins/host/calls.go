package host

import (
	"context"
	"math"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/netabase/netabase/core"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
)

// The round-trip histogram's buckets: upper bounds of 5µs·2^(i/4), so a
// quantile read from it is within 19% of the true one, up to 8.8s; slower
// calls fall in a last bucket without bound.
const (
	callBuckets     = 84
	callBucketFirst = 5e-6 // seconds
)

// callBounds are the buckets' upper bounds in seconds, shared by every
// CallStats the driver returns (read only).
var callBounds = func() []float64 {
	b := make([]float64, callBuckets)
	for i := range b {
		b[i] = callBucketFirst * math.Exp2(float64(i)/4)
	}
	return b
}()

// calls counts the calls a driver's plugins answer and their restarts. A
// call adds a few atomic operations to the gRPC call it measures.
type calls struct {
	counts   [callBuckets + 1]atomic.Uint64
	sumNanos atomic.Int64
	inFlight atomic.Int64
	restarts atomic.Uint64
}

// CallStats returns the figures of the calls to the driver's plugins since
// the driver was made: every unary call's round-trip time, the calls and
// query streams in flight, and the restarts of plugin processes that died.
// Each store the driver opened reports the same figures (core.CallReporter).
func (d *Driver) CallStats() core.CallStats {
	c := &d.calls
	s := core.CallStats{Bounds: callBounds, Buckets: make([]uint64, callBuckets+1), InFlight: c.inFlight.Load(), Restarts: c.restarts.Load()}
	for i := range s.Buckets {
		s.Buckets[i] = c.counts[i].Load()
		s.Calls += s.Buckets[i]
	}
	s.Seconds = float64(c.sumNanos.Load()) / 1e9
	return s
}

// epoch is the origin of a call's start: time.Since of a time with a
// monotonic reading reads one clock, where time.Now reads two.
var epoch = time.Now()

func (c *calls) observe(took time.Duration) {
	i := sort.SearchFloat64s(callBounds, took.Seconds())
	c.counts[i].Add(1)
	c.sumNanos.Add(int64(took))
}

// storageMethods is the start of the name of every method of netabase's
// storage protocol, whatever its version. The other calls on a plugin's
// connection are go-plugin's own (its log and broker streams, which last
// as long as the process): they are not counted.
const storageMethods = "/netabase.storage."

// writeMethod reports whether method is the Write stream of protocol
// version 2 or 3, which lasts as long as the store is open: the writer
// times each group on it as a call instead.
func writeMethod(method string) bool {
	return method == pb2.Storage_Write_FullMethodName || method == pb3.Storage_Write_FullMethodName
}

// unary measures a unary call of the storage protocol.
func (c *calls) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if !strings.HasPrefix(method, storageMethods) {
		return invoker(ctx, method, req, reply, cc, opts...)
	}
	c.inFlight.Add(1)
	start := time.Since(epoch)
	err := invoker(ctx, method, req, reply, cc, opts...)
	c.observe(time.Since(epoch) - start)
	c.inFlight.Add(-1)
	return err
}

// stream counts a stream of the storage protocol in flight until it ends:
// its last message is read, it fails, or its context ends.
func (c *calls) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	if !strings.HasPrefix(method, storageMethods) || writeMethod(method) {
		return streamer(ctx, desc, cc, method, opts...)
	}
	c.inFlight.Add(1)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	if err != nil {
		c.inFlight.Add(-1)
		return nil, err
	}
	s := &countedStream{ClientStream: cs}
	s.done = func() { s.once.Do(func() { c.inFlight.Add(-1) }) }
	s.stop = context.AfterFunc(ctx, s.done)
	return s, nil
}

// countedStream is a client stream that ends its count once.
type countedStream struct {
	grpc.ClientStream
	once sync.Once
	done func()
	stop func() bool
}

func (s *countedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil {
		s.stop()
		s.done()
	}
	return err
}
