package testplugins

import (
	"context"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	pb "github.com/netabase/netabase/plugins/proto/storagev1"
	pb2 "github.com/netabase/netabase/plugins/proto/storagev2"
	pb3 "github.com/netabase/netabase/plugins/proto/storagev3"
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

// ServeRawPipelined serves v2 as a storage plugin of protocol version 2
// and v3 as one of version 3, without the SDK, as ServeRaw does for
// version 1; v3 is served only when MaxProtocol allows it (0, or 3 or
// more), as the SDK reads the cap.
func ServeRawPipelined(v2 pb2.StorageServer, v3 pb3.StorageServer) {
	sets := map[int]plugin.PluginSet{wire.ProtocolV2: {wire.PluginName: rawPluginV2{srv: v2}}}
	if m := MaxProtocol(); m == 0 || m >= wire.ProtocolV3 {
		sets[wire.ProtocolV3] = plugin.PluginSet{wire.PluginName: rawPluginV3{srv: v3}}
	}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: sets,
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

// rawPluginV3 is the go-plugin side of ServeRawPipelined's version 3.
type rawPluginV3 struct {
	plugin.NetRPCUnsupportedPlugin
	srv pb3.StorageServer
}

func (p rawPluginV3) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pb3.RegisterStorageServer(s, p.srv)
	return nil
}

func (rawPluginV3) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, nil
}
