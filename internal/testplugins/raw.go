package testplugins

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	"github.com/netabase/netabase/plugins/wire"
)

// ServeRaw serves srv as a storage plugin of protocol version 1 without
// the SDK, for test plugins that answer what the SDK never would. It
// returns when the host ends the plugin.
func ServeRaw(srv pb.StorageServer) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{wire.ProtocolV1: {wire.PluginName: rawPlugin{srv: srv}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// rawPlugin is the go-plugin side of ServeRaw: a gRPC server only.
type rawPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv pb.StorageServer
}

func (p rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb.RegisterStorageServer(s, p.srv)
	return nil
}

func (rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}

// ServeRawV2 serves srv as a storage plugin of protocol version 2 only,
// without the SDK, as ServeRaw does for version 1.
func ServeRawV2(srv pb2.StorageServer) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: map[int]plugin.PluginSet{wire.ProtocolVersion: {wire.PluginName: rawPluginV2{srv: srv}}},
		GRPCServer:       plugin.DefaultGRPCServer,
	})
}

// rawPluginV2 is the go-plugin side of ServeRawV2.
type rawPluginV2 struct {
	plugin.NetRPCUnsupportedPlugin
	srv pb2.StorageServer
}

func (p rawPluginV2) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb2.RegisterStorageServer(s, p.srv)
	return nil
}

func (rawPluginV2) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}
