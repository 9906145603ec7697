// Command partialplugin speaks protocol versions 2 and 3 without the SDK
// and applies only the first half of every group of writes it is sent,
// and acknowledges the group without an error, its applied count saying
// half: a partial commit, which the host must catch.
package main

import (
	"context"
	"io"
	"sync"

	"github.com/netabase/netabase/internal/testkit/testplugins"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
	"github.com/netabase/netabase/plugins/wire"
)

type partial struct {
	pb2.UnimplementedStorageServer
	mu   sync.Mutex
	data map[string][]byte
}

func (p *partial) Describe(context.Context, *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return &pb.DescribeResponse{Name: "partial", Version: "test"}, nil
}

func (p *partial) Open(context.Context, *pb.OpenRequest) (*pb2.OpenResponse, error) {
	return &pb2.OpenResponse{}, nil
}

func (p *partial) Get(_ context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	v, ok := p.data[string(req.GetKey())]
	if !ok {
		return &pb.GetResponse{Error: &pb.Error{Code: pb.ErrorCode_ERROR_CODE_NOT_FOUND}}, nil
	}
	return &pb.GetResponse{Value: v}, nil
}

func (p *partial) Write(stream pb2.Storage_WriteServer) error {
	var muts []*pb.Mutation
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		muts = append(muts, req.GetMutations()...)
		if req.GetMore() {
			continue
		}
		half := muts[:len(muts)/2]
		p.mu.Lock()
		for _, m := range half {
			if m.GetDelete() {
				delete(p.data, string(m.GetKey()))
			} else {
				p.data[string(m.GetKey())] = m.GetValue()
			}
		}
		p.mu.Unlock()
		if err := stream.Send(&pb2.WriteResponse{Seq: req.GetSeq(), Applied: int64(len(half))}); err != nil {
			return err
		}
		muts = nil
	}
}

func (p *partial) Close(context.Context, *pb.CloseRequest) (*pb.CloseResponse, error) {
	return &pb.CloseResponse{}, nil
}

// partialV3 is partial under protocol version 3: the same store, its
// mutations in frames.
type partialV3 struct {
	pb3.UnimplementedStorageServer
	p *partial
}

func (v partialV3) Describe(ctx context.Context, req *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	return v.p.Describe(ctx, req)
}

func (v partialV3) Open(ctx context.Context, req *pb.OpenRequest) (*pb2.OpenResponse, error) {
	return v.p.Open(ctx, req)
}

func (v partialV3) Get(ctx context.Context, req *pb.GetRequest) (*pb.GetResponse, error) {
	return v.p.Get(ctx, req)
}

func (v partialV3) Close(ctx context.Context, req *pb.CloseRequest) (*pb.CloseResponse, error) {
	return v.p.Close(ctx, req)
}

func (v partialV3) Write(stream pb3.Storage_WriteServer) error {
	var recs []wire.Record
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		got, err := wire.DecodeFrame(req.GetMutations(), wire.MutationKinds)
		if err != nil {
			return err
		}
		recs = append(recs, got...)
		if req.GetMore() {
			continue
		}
		half := recs[:len(recs)/2]
		v.p.mu.Lock()
		for _, m := range half {
			if m.Kind == wire.KindDelete {
				delete(v.p.data, string(m.Key))
			} else {
				v.p.data[string(m.Key)] = m.Value
			}
		}
		v.p.mu.Unlock()
		if err := stream.Send(&pb2.WriteResponse{Seq: req.GetSeq(), Applied: int64(len(half))}); err != nil {
			return err
		}
		recs = nil
	}
}

func main() {
	p := &partial{data: map[string][]byte{}}
	testplugins.ServeRawPipelined(p, partialV3{p: p})
}
