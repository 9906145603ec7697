package sdk

import (
	"context"
	"errors"
	"io"

	"github.com/hashicorp/go-plugin"
	dsq "github.com/ipfs/go-datastore/query"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/tracing"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	"github.com/netabase/netabase/plugins/wire"
)

// serverV2 serves the store over protocol version 2: version 1's reads,
// the Write stream and queries that start at a key.
type serverV2 struct {
	pb2.UnimplementedStorageServer
	s *server
}

// grpcPluginV2 registers the version 2 server with go-plugin.
type grpcPluginV2 struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *grpcPluginV2) GRPCServer(_ *plugin.GRPCBroker, g *grpc.Server) error {
	pb2.RegisterStorageServer(g, &serverV2{s: p.srv})
	return nil
}

func (p *grpcPluginV2) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the sdk serves plugins; netabase's plugins/host is their client")
}

// syncWrites reports whether the store opened with opts acknowledges only
// durable writes: Config.SyncWrites, or else the bool option named sync.
func (cfg Config) syncWrites(opts *Options) bool {
	if cfg.SyncWrites != nil {
		return cfg.SyncWrites(opts)
	}
	if k, ok := opts.kinds["sync"]; ok && k == Bool {
		return opts.Bool("sync")
	}
	return false
}

func (v *serverV2) Destroy(ctx context.Context, req *pb.DestroyRequest) (*pb.DestroyResponse, error) {
	return v.s.Destroy(ctx, req)
}

func (v *serverV2) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return v.s.Describe(ctx, req)
}

func (v *serverV2) Open(ctx context.Context, req *pb.OpenRequest) (*pb2.OpenResponse, error) {
	opts, err := v.s.open(ctx, req)
	if err != nil {
		return &pb2.OpenResponse{Error: wire.Code(err)}, nil
	}
	// The SDK runs every Seek query through core.QueryFrom: by the
	// store's own seek when it is a core.Seeker, and otherwise by
	// skipping here, next to the store, what comes before the start.
	return &pb2.OpenResponse{SyncWrites: v.s.cfg.syncWrites(opts), Seeks: true}, nil
}

func (v *serverV2) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	return v.s.Get(ctx, req)
}

func (v *serverV2) Has(ctx context.Context, req *pb.HasRequest) (*pb.HasResponse, error) {
	return v.s.Has(ctx, req)
}

func (v *serverV2) GetSize(ctx context.Context, req *pb.GetSizeRequest) (*pb.GetSizeResponse, error) {
	return v.s.GetSize(ctx, req)
}

func (v *serverV2) Close(ctx context.Context, req *pb.CloseRequest) (*pb.CloseResponse, error) {
	return v.s.Close(ctx, req)
}

func (v *serverV2) Query(req *pb2.QueryRequest, stream pb2.Storage_QueryServer) error {
	switch q := req.GetQuery().(type) {
	case *pb2.QueryRequest_Plain:
		return v.s.query(q.Plain, stream, queryBytesV2)
	case *pb2.QueryRequest_Seek:
		return v.s.seek(q.Seek, stream)
	}
	return stream.Send(&pb.QueryResponse{Error: wire.Code(core.Errorf(core.ErrRejected, "a query of a kind this plugin does not know"))})
}

// seek runs a query that starts at a key and streams its results.
func (s *server) seek(req *pb2.Seek, stream pb2.Storage_QueryServer) error {
	ctx := stream.Context()
	q, err := wire.DecodeSeek(req)
	if err != nil {
		return stream.Send(&pb.QueryResponse{Error: wire.Code(core.Errorf(core.ErrRejected, "%v", err))})
	}
	st, err := s.use()
	if err != nil {
		return stream.Send(&pb.QueryResponse{Error: wire.Code(err)})
	}
	defer s.mu.RUnlock()
	res, err := core.QueryFrom(ctx, st, q)
	if err != nil {
		return stream.Send(&pb.QueryResponse{Error: wire.Code(err)})
	}
	defer res.Close()
	return sendResults(ctx, dsq.Query{KeysOnly: q.KeysOnly}, res, stream, queryBytesV2)
}

// Write applies the host's groups of mutations in order, each atomically,
// and answers each with how many mutations it applied.
func (v *serverV2) Write(stream pb2.Storage_WriteServer) error {
	ctx := stream.Context()
	var (
		muts []*pb.Mutation
		next uint64 = 1
	)
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			// The host closed the stream after its last group.
			return nil
		}
		if err != nil {
			return err
		}
		if req.GetSeq() != next {
			return status.Errorf(codes.InvalidArgument, "the host sent group %d where group %d was due", req.GetSeq(), next)
		}
		muts = append(muts, req.GetMutations()...)
		if req.GetMore() {
			continue
		}
		resp := &pb2.WriteResponse{Seq: next}
		gctx, span := tracing.MessageSpan(ctx, req.GetTraceparent(), "Write")
		err = v.s.commit(gctx, muts)
		if err != nil {
			resp.Error = wire.Code(err)
		} else {
			resp.Applied = int64(len(muts))
			if req.GetSync() {
				err = v.s.sync(gctx, req.GetSyncPrefix())
				resp.Error = wire.Code(err)
			}
		}
		tracing.EndSpan(span, err)
		if err := stream.Send(resp); err != nil {
			return err
		}
		muts, next = nil, next+1
	}
}

// Compile-time checks that the SDK serves all of version 2.
var _ pb2.StorageServer = (*serverV2)(nil)

// versions returns the plugin sets the SDK serves, by protocol version:
// both, or version 1 alone when Config.MaxProtocol says so.
func (s *server) versions() map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{wire.ProtocolV1: {wire.PluginName: &grpcPlugin{srv: s}}}
	if s.cfg.MaxProtocol != wire.ProtocolV1 {
		sets[wire.ProtocolVersion] = plugin.PluginSet{wire.PluginName: &grpcPluginV2{srv: s}}
	}
	return sets
}
