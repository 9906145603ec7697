// Command partialplugin speaks protocol version 2 without the SDK and
// applies only the first half of every group of writes it is sent, and
// acknowledges the group without an error, its applied count saying half:
// a partial commit, which the host must catch.
package main

import (
	"context"
	"io"
	"sync"

	"github.com/netabase/netabase/internal/testplugins"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
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

func main() { testplugins.ServeRawV2(&partial{data: map[string][]byte{}}) }
