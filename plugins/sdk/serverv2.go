package sdk

import (
	"context"
	"errors"
	"io"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	return v.s.openV2(ctx, req)
}

// openV2 is the Open of versions 2 and 3.
func (s *server) openV2(ctx context.Context, req *pb.OpenRequest) (*pb2.OpenResponse, error) {
	opts, err := s.open(ctx, req)
	if err != nil {
		return &pb2.OpenResponse{Error: wire.Code(err)}, nil
	}
	// The SDK runs every Seek query (see results).
	return &pb2.OpenResponse{SyncWrites: s.cfg.syncWrites(opts), Seeks: true}, nil
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
	return v.s.query(req, stream, queryBytesV2)
}

// Write applies the host's groups of mutations in order, each atomically,
// and answers each with how many mutations it applied.
func (v *serverV2) Write(stream pb2.Storage_WriteServer) error {
	return v.s.write(stream.Context(), stream.Send, func(recs []wire.Record) (part, []wire.Record, error) {
		req, err := stream.Recv()
		if err != nil {
			return part{}, recs, err
		}
		for _, m := range req.GetMutations() {
			r := wire.Record{Kind: wire.KindPut, Key: m.GetKey(), Value: m.GetValue()}
			if m.GetDelete() {
				r.Kind = wire.KindDelete
			}
			recs = append(recs, r)
		}
		return part{seq: req.GetSeq(), more: req.GetMore(), sync: req.GetSync(), prefix: req.GetSyncPrefix(), traceparent: req.GetTraceparent()}, recs, nil
	})
}

// part is what a message of a Write stream says besides its mutations.
type part struct {
	seq         uint64
	more, sync  bool
	prefix      []byte
	traceparent string
}

// write serves a Write stream of version 2 or 3: recv reads the next
// message, appends its mutations to recs and returns them; send answers a
// group. It returns when the host closes its side of the stream.
func (s *server) write(ctx context.Context, send func(*pb2.WriteResponse) error, recv func(recs []wire.Record) (part, []wire.Record, error)) error {
	var (
		recs []wire.Record
		next uint64 = 1
	)
	for {
		p, more, err := recv(recs)
		if err == io.EOF {
			// The host closed the stream after its last group.
			return nil
		}
		if err != nil {
			return err
		}
		recs = more
		if p.seq != next {
			return status.Errorf(codes.InvalidArgument, "the host sent group %d where group %d was due", p.seq, next)
		}
		if p.more {
			continue
		}
		resp := &pb2.WriteResponse{Seq: next}
		gctx, span := tracing.MessageSpan(ctx, p.traceparent, "Write")
		err = s.apply(gctx, recs)
		if err != nil {
			resp.Error = wire.Code(err)
		} else {
			resp.Applied = int64(len(recs))
			if p.sync {
				err = s.sync(gctx, p.prefix)
				resp.Error = wire.Code(err)
			}
		}
		tracing.EndSpan(span, err)
		if err := send(resp); err != nil {
			return err
		}
		// The records alias the messages they came in: a new slice, so
		// that the old one's messages can be freed.
		recs, next = nil, next+1
	}
}

// Compile-time checks that the SDK serves all of version 2.
var _ pb2.StorageServer = (*serverV2)(nil)

// versions returns the plugin sets the SDK serves, by protocol version:
// every one, or those up to Config.MaxProtocol.
func (s *server) versions() map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{wire.ProtocolV1: {wire.PluginName: &grpcPlugin{srv: s}}}
	if s.cfg.MaxProtocol == 0 || s.cfg.MaxProtocol >= wire.ProtocolV2 {
		sets[wire.ProtocolV2] = plugin.PluginSet{wire.PluginName: &grpcPluginV2{srv: s}}
	}
	if s.cfg.MaxProtocol == 0 || s.cfg.MaxProtocol >= wire.ProtocolV3 {
		sets[wire.ProtocolV3] = plugin.PluginSet{wire.PluginName: &grpcPluginV3{srv: s}}
	}
	return sets
}
