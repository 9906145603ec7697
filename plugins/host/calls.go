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

	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
)

// The round-trip histogram's buckets: upper bounds of 5µs·2^(i/4), so a
// quantile read from it is within 19% of the true one, up to 8.8s; slower
// calls fall in a last bucket without bound.
const (
	callBuckets     = 84
	callBucketFirst = 5e-6 // seconds
)

// callBounds are the buckets' upper bounds in seconds.
var callBounds = func() []float64 {
	b := make([]float64, callBuckets)
	for i := range b {
		b[i] = callBucketFirst * math.Exp2(float64(i)/4)
	}
	return b
}()

// CallBounds returns the upper bounds, in seconds, of CallStats.Buckets
// but the last, which has none.
func CallBounds() []float64 { return append([]float64(nil), callBounds...) }

// calls counts the calls a driver's plugins answer and their restarts. A
// call adds a few atomic operations to the gRPC call it measures.
type calls struct {
	counts   [callBuckets + 1]atomic.Uint64
	sumNanos atomic.Int64
	inFlight atomic.Int64
	restarts atomic.Uint64
}

// CallStats are the figures of the calls to a driver's plugins since it
// was made: every unary call's round-trip time (from the call to its
// answer, the plugin's work included), the calls and query streams in
// flight, and the restarts of plugin processes that died.
type CallStats struct {
	// Calls is the number of unary calls answered, or failed, and Seconds
	// their total time.
	Calls   uint64  `json:"calls"`
	Seconds float64 `json:"seconds"`
	// Buckets counts the calls by round-trip time: Buckets[i] those that
	// took at most CallBounds()[i] and more than the bound before; the
	// last, those slower than every bound.
	Buckets []uint64 `json:"-"`
	// InFlight are the calls and streams under way now.
	InFlight int64 `json:"in_flight"`
	// Restarts counts the plugin processes started again after one died.
	Restarts uint64 `json:"restarts"`
}

// CallStats returns the figures of the calls to the driver's plugins.
func (d *Driver) CallStats() CallStats {
	c := &d.calls
	s := CallStats{Buckets: make([]uint64, callBuckets+1), InFlight: c.inFlight.Load(), Restarts: c.restarts.Load()}
	for i := range s.Buckets {
		s.Buckets[i] = c.counts[i].Load()
		s.Calls += s.Buckets[i]
	}
	s.Seconds = float64(c.sumNanos.Load()) / 1e9
	return s
}

// Since returns the figures of the calls after base, an earlier reading
// of the same driver; InFlight is s's.
func (s CallStats) Since(base CallStats) CallStats {
	out := CallStats{Calls: s.Calls - base.Calls, Seconds: s.Seconds - base.Seconds, InFlight: s.InFlight,
		Restarts: s.Restarts - base.Restarts, Buckets: make([]uint64, len(s.Buckets))}
	for i := range s.Buckets {
		out.Buckets[i] = s.Buckets[i]
		if i < len(base.Buckets) {
			out.Buckets[i] -= base.Buckets[i]
		}
	}
	return out
}

// Quantile returns the round-trip time that a fraction q (0 to 1) of the
// calls took at most, interpolated within its bucket; 0 when no call was
// made.
func (s CallStats) Quantile(q float64) time.Duration {
	if s.Calls == 0 {
		return 0
	}
	rank := q * float64(s.Calls)
	var seen float64
	for i, n := range s.Buckets {
		if n == 0 || seen+float64(n) < rank {
			seen += float64(n)
			continue
		}
		lo := 0.0
		if i > 0 {
			lo = callBounds[i-1]
		}
		if i == callBuckets {
			return time.Duration(lo * 1e9) // no bound above: the last one
		}
		frac := (rank - seen) / float64(n)
		return time.Duration((lo + frac*(callBounds[i]-lo)) * 1e9)
	}
	return time.Duration(callBounds[callBuckets-1] * 1e9)
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

// writeMethod is protocol version 2's Write stream, which lasts as long as
// the store is open: the writer times each group on it as a call instead.
const writeMethod = pb2.Storage_Write_FullMethodName

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
	if !strings.HasPrefix(method, storageMethods) || method == writeMethod {
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
