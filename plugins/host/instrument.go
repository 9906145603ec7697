package host

import (
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/netabase/netabase/internal/tracing"
)

// instrument hooks the driver's measures into a plugin started with cfg:
// each call's round-trip time and the calls in flight (see CallStats),
// and, while the host traces (internal/tracing), the trace: the plugin's
// environment says so, and each call carries the trace context of the
// backend operation that made it.
func (d *Driver) instrument(cfg *plugin.ClientConfig) {
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions,
		grpc.WithChainUnaryInterceptor(d.calls.unary), grpc.WithChainStreamInterceptor(d.calls.stream))
	// go-plugin appends the host's own environment after Cmd.Env.
	cfg.Cmd.Env = append(cfg.Cmd.Env, tracing.PluginEnv()...)
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions, tracing.DialOptions()...)
}
