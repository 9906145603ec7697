package sdk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	ds "github.com/ipfs/go-datastore"
	dsq "github.com/ipfs/go-datastore/query"
	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/tracing"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	"github.com/netabase/netabase/plugins/wire"
)

// A Query message holds at most queryBatch entries and about queryBytes
// bytes: small enough that the host decodes one batch while the plugin
// reads the next. Under protocol version 2 the batches grow, message by
// message, up to queryBytesV2: a long scan pays the per-message cost of
// gRPC a few times, and a short query still gets its first entries in a
// small message.
const (
	queryBatch   = 512
	queryBytes   = 64 << 10
	queryBytesV2 = 1 << 20
)

// server serves one store over the protocol.
type server struct {
	pb.UnimplementedStorageServer
	cfg    Config
	specs  []*pb.OptionSpec
	log    *slog.Logger
	stderr io.Writer

	// mu is held for reading by every operation on the store and for
	// writing by Open and Close.
	mu     sync.RWMutex
	store  ds.Batching
	closed bool
}

func newServer(cfg Config, specs []*pb.OptionSpec, stderr io.Writer) *server {
	return &server{cfg: cfg, specs: specs, stderr: stderr, log: slog.New(newLogHandler(stderr)).With("plugin", cfg.Name)}
}

// run serves until the host stops the plugin or goes away, then closes the
// store.
func (s *server) run() {
	sets := s.versions()
	stopTracing := s.startTracing()
	conns := &connWatch{gone: func() {
		// The host went away without stopping the plugin (it crashed or
		// was killed): close the store so that its lock is free, and go.
		if err := s.closeStore(); err != nil {
			s.log.Error("closing the store after the host went away", "error", err)
		}
		stopTracing()
		os.Exit(0)
	}}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: sets,
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(append(opts,
				grpc.MaxRecvMsgSize(wire.MaxMessageSize),
				grpc.MaxSendMsgSize(wire.MaxMessageSize),
				grpc.InitialWindowSize(wire.StreamWindow),
				grpc.InitialConnWindowSize(wire.ConnWindow),
				grpc.WriteBufferSize(wire.BufferSize),
				grpc.ReadBufferSize(wire.BufferSize),
				grpc.StatsHandler(conns),
				grpc.NumStreamWorkers(streamWorkers()),
				grpc.ChainUnaryInterceptor(s.recoverUnary),
				grpc.ChainStreamInterceptor(s.recoverStream),
			), tracing.ServerOptions()...)...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{Output: s.stderr, JSONFormat: true, Level: hclog.Warn}),
	})
	if err := s.closeStore(); err != nil {
		s.log.Error("closing the store", "error", err)
	}
	stopTracing()
}

// streamWorkers is how many goroutines serve the plugin's calls, kept
// between calls: a goroutine started for each call (gRPC's default) grows
// its stack anew every time, and a point Get through pebble grows it
// several times (runtime.newstack was 12% of the plugin's CPU in the host's
// Get benchmark, BENCHMARKS.md). Long-lived streams (the write stream,
// go-plugin's own) hold one each for as long as they run; a call that finds
// every worker busy gets a goroutine of its own, as without workers.
func streamWorkers() uint32 { return uint32(runtime.GOMAXPROCS(0) + 4) }

// tracingFlush bounds how long a plugin that stops waits for its spans to
// reach the collector.
const tracingFlush = 5 * time.Second

// startTracing turns tracing on when the host asked for the plugin's spans
// (see internal/tracing), and returns what flushes them at the end. A
// plugin that cannot trace says why and serves untraced.
func (s *server) startTracing() (stop func()) {
	shutdown, err := tracing.StartPlugin(s.cfg.Name)
	if err != nil {
		s.log.Error("tracing is off", "error", err)
	}
	if shutdown == nil {
		return func() {}
	}
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), tracingFlush)
		defer cancel()
		if err := shutdown(ctx); err != nil {
			s.log.Warn("sending the last spans", "error", err)
		}
	}
}

// grpcPlugin registers the server with go-plugin.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, g *grpc.Server) error {
	pb.RegisterStorageServer(g, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the sdk serves plugins; netabase's plugins/host is their client")
}

// connWatch calls gone when the last connection from the host ends.
type connWatch struct {
	mu    sync.Mutex
	n     int
	gone  func()
	fired bool
}

func (w *connWatch) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context { return ctx }
func (w *connWatch) HandleRPC(context.Context, stats.RPCStats)                       {}
func (w *connWatch) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context {
	return ctx
}

func (w *connWatch) HandleConn(_ context.Context, st stats.ConnStats) {
	w.mu.Lock()
	switch st.(type) {
	case *stats.ConnBegin:
		w.n++
	case *stats.ConnEnd:
		w.n--
	}
	fire := w.n == 0 && !w.fired
	if fire {
		w.fired = true
	}
	w.mu.Unlock()
	if fire {
		go w.gone()
	}
}

// recoverUnary turns a panic of the store into an internal error, so that
// one bad call does not take the process down.
func (s *server) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("the store panicked", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, err = nil, fmt.Errorf("the plugin's store panicked in %s: %v", info.FullMethod, p)
		}
	}()
	return h(ctx, req)
}

func (s *server) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			s.log.Error("the store panicked", "method", info.FullMethod, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("the plugin's store panicked in %s: %v", info.FullMethod, p)
		}
	}()
	return h(srv, ss)
}

// use returns the open store with s.mu held for reading; the caller
// releases it when err is nil.
func (s *server) use() (ds.Batching, error) {
	s.mu.RLock()
	switch {
	case s.closed:
		s.mu.RUnlock()
		return nil, core.ErrClosed
	case s.store == nil:
		s.mu.RUnlock()
		return nil, fmt.Errorf("%w: the host must call Open first", wire.ErrNotOpen)
	}
	return s.store, nil
}

func (s *server) closeStore() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.store == nil {
		s.closed = true
		return nil
	}
	s.closed = true
	return s.store.Close()
}

func sdkVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if bi.Main.Path == "github.com/netabase/netabase" {
		return bi.Main.Version
	}
	for _, d := range bi.Deps {
		if d.Path == "github.com/netabase/netabase" {
			return d.Version
		}
	}
	return "unknown"
}

func (s *server) Describe(_ context.Context, req *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	resp := &pb.DescribeResponse{
		Name:    s.cfg.Name,
		Version: s.cfg.Version,
		Capabilities: &pb.Capabilities{
			Persistent: s.cfg.Capabilities.Persistent,
			Durable:    s.cfg.Capabilities.Durable,
		},
		Options:    s.specs,
		SdkVersion: sdkVersion(),
	}
	if req.GetValidate() {
		_, err := wire.ParseOptions(s.specs, req.GetOptions())
		resp.Error = wire.Code(err)
	}
	return resp, nil
}

func (s *server) Open(ctx context.Context, req *pb.OpenRequest) (*pb.OpenResponse, error) {
	_, err := s.open(ctx, req)
	return &pb.OpenResponse{Error: wire.Code(err)}, nil
}

// open opens the store with the options req carries and returns them.
func (s *server) open(ctx context.Context, req *pb.OpenRequest) (*Options, error) {
	vals, err := wire.ParseOptions(s.specs, req.GetOptions())
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.store != nil {
		return nil, core.Errorf(core.ErrRejected, "the store is already open; a plugin process serves one store")
	}
	opts := s.cfg.options(vals, s.log)
	st, err := s.cfg.Open(ctx, opts)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return nil, errors.New("the plugin's Open returned no store and no error")
	}
	if len(opts.misuse) > 0 {
		_ = st.Close()
		return nil, fmt.Errorf("a bug in the plugin: %s", opts.misuse[0])
	}
	s.store = st
	return opts, nil
}

func (s *server) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	k, err := wire.Key(req.GetKey())
	if err != nil {
		return &pb.GetResponse{Error: wire.Code(err)}, nil
	}
	st, err := s.use()
	if err != nil {
		return &pb.GetResponse{Error: wire.Code(err)}, nil
	}
	defer s.mu.RUnlock()
	v, err := st.Get(ctx, k)
	if err != nil {
		return &pb.GetResponse{Error: wire.Code(err)}, nil
	}
	return &pb.GetResponse{Value: v}, nil
}

func (s *server) Has(ctx context.Context, req *pb.HasRequest) (*pb.HasResponse, error) {
	k, err := wire.Key(req.GetKey())
	if err != nil {
		return &pb.HasResponse{Error: wire.Code(err)}, nil
	}
	st, err := s.use()
	if err != nil {
		return &pb.HasResponse{Error: wire.Code(err)}, nil
	}
	defer s.mu.RUnlock()
	ok, err := st.Has(ctx, k)
	return &pb.HasResponse{Exists: ok, Error: wire.Code(err)}, nil
}

func (s *server) GetSize(ctx context.Context, req *pb.GetSizeRequest) (*pb.GetSizeResponse, error) {
	k, err := wire.Key(req.GetKey())
	if err != nil {
		return &pb.GetSizeResponse{Error: wire.Code(err)}, nil
	}
	st, err := s.use()
	if err != nil {
		return &pb.GetSizeResponse{Error: wire.Code(err)}, nil
	}
	defer s.mu.RUnlock()
	n, err := st.GetSize(ctx, k)
	if err != nil {
		return &pb.GetSizeResponse{Error: wire.Code(err)}, nil
	}
	return &pb.GetSizeResponse{Size: int64(n)}, nil
}

func checkValue(v []byte) error {
	if len(v) > core.MaxValueSize {
		return core.Errorf(core.ErrTooLarge, "a value of %d bytes is more than the %d-byte limit", len(v), core.MaxValueSize)
	}
	return nil
}

func (s *server) Put(ctx context.Context, req *pb.PutRequest) (*pb.PutResponse, error) {
	k, err := wire.Key(req.GetKey())
	if err == nil {
		err = checkValue(req.GetValue())
	}
	if err != nil {
		return &pb.PutResponse{Error: wire.Code(err)}, nil
	}
	st, err := s.use()
	if err != nil {
		return &pb.PutResponse{Error: wire.Code(err)}, nil
	}
	defer s.mu.RUnlock()
	return &pb.PutResponse{Error: wire.Code(st.Put(ctx, k, nonNil(req.GetValue())))}, nil
}

// nonNil returns v, or an empty slice for nil: an empty value is stored,
// never mistaken for a missing one.
func nonNil(v []byte) []byte {
	if v == nil {
		return []byte{}
	}
	return v
}

func (s *server) Delete(ctx context.Context, req *pb.DeleteRequest) (*pb.DeleteResponse, error) {
	k, err := wire.Key(req.GetKey())
	if err != nil {
		return &pb.DeleteResponse{Error: wire.Code(err)}, nil
	}
	st, err := s.use()
	if err != nil {
		return &pb.DeleteResponse{Error: wire.Code(err)}, nil
	}
	defer s.mu.RUnlock()
	return &pb.DeleteResponse{Error: wire.Code(st.Delete(ctx, k))}, nil
}

func (s *server) Sync(ctx context.Context, req *pb.SyncRequest) (*pb.SyncResponse, error) {
	return &pb.SyncResponse{Error: wire.Code(s.sync(ctx, req.GetPrefix()))}, nil
}

// sync syncs the store under the prefix p holds.
func (s *server) sync(ctx context.Context, p []byte) error {
	k, err := wire.Prefix(p)
	if err != nil {
		return err
	}
	st, err := s.use()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return st.Sync(ctx, k)
}

func (s *server) Destroy(ctx context.Context, req *pb.DestroyRequest) (*pb.DestroyResponse, error) {
	return &pb.DestroyResponse{Error: wire.Code(s.destroy(ctx, req.GetOptions()))}, nil
}

// destroy checks that options name a scratch store the host made and calls
// the plugin's Destroy.
func (s *server) destroy(ctx context.Context, options []*pb.Option) error {
	if s.cfg.Destroy == nil {
		return core.Errorf(core.ErrUnsupported, "the plugin declares no namespace option, so it has no scratch data outside the host's scratch directory to destroy")
	}
	vals, err := wire.ParseOptions(s.specs, options)
	if err != nil {
		return err
	}
	for _, spec := range s.specs {
		if spec.GetKind() != pb.OptionKind_OPTION_KIND_NAMESPACE {
			continue
		}
		if v, _ := vals[spec.GetName()].(string); !wire.IsScratchNamespace(v) {
			return core.Errorf(core.ErrRejected, "refusing to destroy the store whose option %s is %q: the host destroys only scratch stores it made, whose namespaces start with %q", spec.GetName(), v, wire.ScratchPrefix)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.store != nil || s.closed {
		return core.Errorf(core.ErrRejected, "refusing to destroy a store in a process that opened one; the host destroys a scratch store from a fresh process")
	}
	opts := s.cfg.options(vals, s.log)
	err = s.cfg.Destroy(ctx, opts)
	if err == nil && len(opts.misuse) > 0 {
		err = fmt.Errorf("a bug in the plugin: %s", opts.misuse[0])
	}
	return err
}

func (s *server) Close(context.Context, *pb.CloseRequest) (*pb.CloseResponse, error) {
	return &pb.CloseResponse{Error: wire.Code(s.closeStore())}, nil
}

func (s *server) Commit(stream pb.Storage_CommitServer) error {
	ctx := stream.Context()
	var muts []*pb.Mutation
	for {
		req, err := stream.Recv()
		if err != nil {
			// The host gave up on the batch: apply nothing.
			return err
		}
		muts = append(muts, req.GetMutations()...)
		if req.GetCommit() {
			break
		}
	}
	return stream.SendAndClose(&pb.CommitResponse{Error: wire.Code(s.commit(ctx, muts))})
}

// commit applies muts, the mutations of versions 1 and 2, atomically.
func (s *server) commit(ctx context.Context, muts []*pb.Mutation) error {
	recs := make([]wire.Record, len(muts))
	for i, m := range muts {
		recs[i] = wire.Record{Kind: wire.KindPut, Key: m.GetKey(), Value: m.GetValue()}
		if m.GetDelete() {
			recs[i].Kind = wire.KindDelete
		}
	}
	return s.apply(ctx, recs)
}

// apply applies recs, records of kinds put and delete, atomically: every
// key and value is checked before anything is applied.
func (s *server) apply(ctx context.Context, recs []wire.Record) error {
	keys := make([]ds.Key, len(recs))
	for i, m := range recs {
		k, err := wire.Key(m.Key)
		if err == nil && m.Kind == wire.KindPut {
			err = checkValue(m.Value)
		}
		if err != nil {
			return err
		}
		keys[i] = k
	}
	st, err := s.use()
	if err != nil {
		return err
	}
	defer s.mu.RUnlock()
	b, err := st.Batch(ctx)
	if err != nil {
		return err
	}
	for i, m := range recs {
		if m.Kind == wire.KindDelete {
			err = b.Delete(ctx, keys[i])
		} else {
			err = b.Put(ctx, keys[i], nonNil(m.Value))
		}
		if err != nil {
			return err
		}
	}
	return b.Commit(ctx)
}

func (s *server) Query(req *pb.QueryRequest, stream pb.Storage_QueryServer) error {
	return s.query(&pb2.QueryRequest{Query: &pb2.QueryRequest_Plain{Plain: req}}, stream, queryBytes)
}

// query runs a query of version 1 or 2 and streams its results in
// batches that grow up to maxBytes.
func (s *server) query(req *pb2.QueryRequest, stream interface {
	resultSender
	Context() context.Context
}, maxBytes int) error {
	ctx := stream.Context()
	q, res, done, err := s.results(ctx, req)
	if err != nil {
		return stream.Send(&pb.QueryResponse{Error: wire.Code(err)})
	}
	defer done()
	return sendResults(ctx, q, res, stream, maxBytes)
}

// results runs req, a go-datastore query or one that starts at a key, and
// returns its results and the query whose KeysOnly says what they hold.
// done closes the results and lets go of the store. The SDK runs every
// query that starts at a key through core.QueryFrom: by the store's own
// seek when it is a core.Seeker, and otherwise by skipping, next to the
// store, what comes before the start.
func (s *server) results(ctx context.Context, req *pb2.QueryRequest) (q dsq.Query, res dsq.Results, done func(), err error) {
	var seek *core.SeekQuery
	switch r := req.GetQuery().(type) {
	case *pb2.QueryRequest_Plain:
		q, err = wire.DecodeQuery(r.Plain)
	case *pb2.QueryRequest_Seek:
		var sq core.SeekQuery
		sq, err = wire.DecodeSeek(r.Seek)
		seek, q = &sq, dsq.Query{KeysOnly: sq.KeysOnly}
	default:
		err = errors.New("a query of a kind this plugin does not know")
	}
	if err != nil {
		return q, nil, nil, core.Errorf(core.ErrRejected, "%v", err)
	}
	st, err := s.use()
	if err != nil {
		return q, nil, nil, err
	}
	if seek != nil {
		res, err = core.QueryFrom(ctx, st, *seek)
	} else {
		res, err = st.Query(ctx, q)
	}
	if err != nil {
		s.mu.RUnlock()
		return q, nil, nil, err
	}
	return q, res, func() {
		res.Close()
		s.mu.RUnlock()
	}, nil
}

// resultSender is the sending side of a Query stream of either protocol
// version.
type resultSender interface {
	Send(*pb.QueryResponse) error
}

// sendResults streams res in batches of at most queryBatch entries and
// about queryBytes bytes; with maxBytes over queryBytes, each batch may
// hold twice as many entries and bytes as the one before, up to maxBytes.
func sendResults(ctx context.Context, q dsq.Query, res dsq.Results, stream resultSender, maxBytes int) error {
	batch := &pb.QueryResponse{}
	size := 0
	limit, count := queryBytes, queryBatch
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			batch.Error = wire.Code(r.Error)
			return stream.Send(batch)
		}
		e := &pb.Entry{Key: []byte(r.Key), Size: int64(r.Size)}
		if !q.KeysOnly {
			e.Value = nonNil(r.Value)
			e.Size = int64(len(r.Value))
		}
		batch.Entries = append(batch.Entries, e)
		size += len(e.Key) + len(e.Value)
		if len(batch.Entries) >= count || size >= limit {
			if err := stream.Send(batch); err != nil {
				return err
			}
			batch, size = &pb.QueryResponse{}, 0
			if limit < maxBytes {
				limit, count = min(2*limit, maxBytes), 2*count
			}
		}
	}
	if len(batch.Entries) == 0 {
		return nil
	}
	return stream.Send(batch)
}
