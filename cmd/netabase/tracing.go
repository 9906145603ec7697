package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/internal/tracing"
)

// tracingFlush bounds how long a stopping daemon waits for its last spans
// to reach the collector.
const tracingFlush = 5 * time.Second

// daemonTracing is the daemon's tracing ([tracing] in config.toml,
// --tracing, or OTEL_EXPORTER_OTLP_ENDPOINT): nil when it is off.
type daemonTracing struct {
	stop     func(context.Context) error
	endpoint string // what the banner says
}

// startTracing turns tracing on when the configuration or the environment
// asks for it, before the node starts, so that a storage plugin it
// launches joins the traces.
func startTracing(ctx context.Context, t config.Tracing) (*daemonTracing, error) {
	if !t.Enabled && !tracing.Wanted() {
		return nil, nil
	}
	stop, err := tracing.Start(ctx, tracing.Settings{Endpoint: t.Endpoint, Service: "netabase"})
	if err != nil {
		return nil, failed(err)
	}
	return &daemonTracing{stop: stop, endpoint: tracing.EndpointText(t.Endpoint)}, nil
}

// trace makes n's storage backend's operations spans.
func (d *daemonTracing) trace(n *node.Node) error {
	if d == nil {
		return nil
	}
	return core.Trace(n.Datastore(), otel.GetTracerProvider())
}

// close sends the spans not yet sent, and turns tracing off.
func (d *daemonTracing) close(stderr io.Writer) {
	if d == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tracingFlush)
	defer cancel()
	if err := d.stop(ctx); err != nil {
		fmt.Fprintf(stderr, "netabase: sending the last spans to %s: %v\n", d.endpoint, err)
	}
}

// banner is what the daemon's banner says of tracing, or "" when it is off.
func (d *daemonTracing) banner() string {
	if d == nil {
		return ""
	}
	return d.endpoint
}
