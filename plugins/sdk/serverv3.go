package sdk

import (
	"context"
	"errors"

	"github.com/hashicorp/go-plugin"
	dsq "github.com/ipfs/go-datastore/query"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/netabase/netabase/core"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
	"github.com/netabase/netabase/plugins/wire"
)

// serverV3 serves the store over protocol version 3: version 2 with the
// mutations of writes and the entries of query results in frames.
type serverV3 struct {
	pb3.UnimplementedStorageServer
	s *server
}

// grpcPluginV3 registers the version 3 server with go-plugin.
type grpcPluginV3 struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *grpcPluginV3) GRPCServer(_ *plugin.GRPCBroker, g *grpc.Server) error {
	pb3.RegisterStorageServer(g, &serverV3{s: p.srv})
	return nil
}

func (p *grpcPluginV3) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("the sdk serves plugins; netabase's plugins/host is their client")
}

func (v *serverV3) Destroy(ctx context.Context, req *pb.DestroyRequest) (*pb.DestroyResponse, error) {
	return v.s.Destroy(ctx, req)
}

func (v *serverV3) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return v.s.Describe(ctx, req)
}

func (v *serverV3) Open(ctx context.Context, req *pb.OpenRequest) (*pb2.OpenResponse, error) {
	return v.s.openV2(ctx, req)
}

func (v *serverV3) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	return v.s.Get(ctx, req)
}

func (v *serverV3) Has(ctx context.Context, req *pb.HasRequest) (*pb.HasResponse, error) {
	return v.s.Has(ctx, req)
}

func (v *serverV3) GetSize(ctx context.Context, req *pb.GetSizeRequest) (*pb.GetSizeResponse, error) {
	return v.s.GetSize(ctx, req)
}

func (v *serverV3) Close(ctx context.Context, req *pb.CloseRequest) (*pb.CloseResponse, error) {
	return v.s.Close(ctx, req)
}

// Query runs the query and streams its entries in frames that grow from
// queryBytes to queryBytesV2.
func (v *serverV3) Query(req *pb2.QueryRequest, stream pb3.Storage_QueryServer) error {
	ctx := stream.Context()
	q, res, done, err := v.s.results(ctx, req)
	if err != nil {
		return stream.Send(&pb3.QueryFrame{Entries: (&wire.Frame{}).Bytes(), Error: wire.Code(err)})
	}
	defer done()
	return sendFrames(ctx, q, res, stream)
}

// sendFrames streams res in entry frames of about queryBytes bytes at
// first, each up to twice the one before, up to queryBytesV2. A frame
// with an error ends the stream.
func sendFrames(ctx context.Context, q dsq.Query, res dsq.Results, stream pb3.Storage_QueryServer) error {
	var f wire.Frame
	limit := queryBytes
	f.Grow(limit + limit/8)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, ok := res.NextSync()
		if !ok {
			break
		}
		if r.Error != nil {
			return stream.Send(&pb3.QueryFrame{Entries: f.Bytes(), Error: wire.Code(r.Error)})
		}
		if q.KeysOnly {
			if q.ReturnsSizes && r.Size < 0 {
				// A frame cannot carry it; the host would refuse it.
				err := core.Errorf(core.ErrRejected, "the store reported a size of %d bytes for %q; a size is never negative", r.Size, r.Key)
				return stream.Send(&pb3.QueryFrame{Entries: f.Bytes(), Error: wire.Code(err)})
			}
			// Without ReturnsSizes a store may leave the size unknown (-1).
			f.PutSizeString(r.Key, int64(max(r.Size, 0)))
		} else {
			f.PutString(r.Key, r.Value)
		}
		if f.Size() >= limit {
			if err := stream.Send(&pb3.QueryFrame{Entries: f.Bytes()}); err != nil {
				return err
			}
			// gRPC may keep the message after Send (for stats handlers):
			// a new frame, never the old one's memory.
			limit = min(2*limit, queryBytesV2)
			f = wire.Frame{}
			f.Grow(limit + limit/8)
		}
	}
	if f.Len() == 0 {
		return nil
	}
	return stream.Send(&pb3.QueryFrame{Entries: f.Bytes()})
}

// Write applies the host's groups of mutations, which come in frames, as
// version 2's Write does.
func (v *serverV3) Write(stream pb3.Storage_WriteServer) error {
	return v.s.write(stream.Context(), stream.Send, func(recs []wire.Record) (part, []wire.Record, error) {
		req, err := stream.Recv()
		if err != nil {
			return part{}, recs, err
		}
		r := wire.NewFrameReader(req.GetMutations(), wire.MutationKinds)
		for {
			rec, ok := r.Next()
			if !ok {
				break
			}
			recs = append(recs, rec)
		}
		if err := r.Err(); err != nil {
			return part{}, recs, status.Errorf(codes.InvalidArgument, "group %d: %v", req.GetSeq(), err)
		}
		return part{seq: req.GetSeq(), more: req.GetMore(), sync: req.GetSync(), prefix: req.GetSyncPrefix(), traceparent: req.GetTraceparent()}, recs, nil
	})
}

// Compile-time checks that the SDK serves all of version 3.
var _ pb3.StorageServer = (*serverV3)(nil)
