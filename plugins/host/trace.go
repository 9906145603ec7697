package host

import (
	"github.com/hashicorp/go-plugin"

	"github.com/netabase/netabase/internal/tracing"
)

// traced makes a plugin started with cfg join the host's traces while the
// host traces (internal/tracing): the plugin's environment says so, and
// each call carries the trace context of the backend operation that made
// it. With tracing off it changes nothing.
func traced(cfg *plugin.ClientConfig) {
	// go-plugin appends the host's own environment after Cmd.Env.
	cfg.Cmd.Env = append(cfg.Cmd.Env, tracing.PluginEnv()...)
	cfg.GRPCDialOptions = append(cfg.GRPCDialOptions, tracing.DialOptions()...)
}
