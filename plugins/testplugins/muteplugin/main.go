// Command muteplugin completes the netabase plugin handshake and then never
// answers a call.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netabase/netabase/plugins/internal/wire"
	pb "github.com/netabase/netabase/plugins/proto/storagev1"
)

type mute struct{ pb.UnimplementedStorageServer }

func (mute) Describe(ctx context.Context, _ *pb.DescribeRequest) (*pb.DescribeResponse, error) {
	select {} // ignores ctx: a plugin that hangs
}

type storage struct{ plugin.NetRPCUnsupportedPlugin }

func (storage) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterStorageServer(s, mute{})
	return nil
}

func (storage) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{wire.ProtocolVersion: {wire.PluginName: storage{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
