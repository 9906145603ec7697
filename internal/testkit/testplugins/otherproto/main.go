// Command otherproto answers the netabase plugin handshake with protocol
// version 99 of the storage plugin, which this netabase does not speak.
package main

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netabase/netabase/plugins/wire"
)

type storage struct{ plugin.NetRPCUnsupportedPlugin }

func (storage) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error { return nil }
func (storage) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

func main() {
	hs := wire.Handshake
	hs.ProtocolVersion = 99
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  hs,
		VersionedPlugins: map[int]plugin.PluginSet{99: {wire.PluginName: storage{}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}
