// Package tracing sends a netabase process's OpenTelemetry traces to an
// OTLP collector (OTLP over HTTP, protobuf), and carries a trace across
// the two hops netabase makes between processes: a control API call (W3C
// traceparent in its HTTP headers) and a storage plugin's gRPC calls (the
// same header in the call's metadata).
//
// Tracing is off until [Start] turns it on: the daemon does when
// config.toml's [tracing] table, --tracing or the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) asks
// for it ([Wanted]). Off, the process's tracer provider is OpenTelemetry's
// no-op one, a storage backend starts no span (core.Trace is not called),
// and the plugin hooks below install nothing, so tracing costs nothing.
//
// A storage plugin joins the trace of the host that launched it: the
// host, tracing, sets [EnvTracing] (and [EnvEndpoint], when the endpoint
// came from the configuration) in the plugin's environment ([PluginEnv]),
// where the plugin SDK finds them ([StartPlugin]) and exports its own
// spans to the same collector, under its own service name; every other
// OTEL_ variable the daemon has reaches the plugin as well. The plugin
// starts a server span for each call that carries a sampled trace
// context, a child of the host's span of the backend operation.
package tracing

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// The variables a tracing host sets in a plugin's environment.
const (
	// EnvTracing, when not empty, tells the plugin that the host traces
	// and wants the plugin's spans.
	EnvTracing = "NETABASE_TRACING"
	// EnvEndpoint is the OTLP/HTTP endpoint URL the host exports to, when
	// its configuration gave one; otherwise the plugin reads the
	// standard OTEL_EXPORTER_OTLP_* variables it inherits.
	EnvEndpoint = "NETABASE_TRACING_ENDPOINT"
)

// Settings say where a process sends its spans.
type Settings struct {
	// Endpoint is the collector's OTLP/HTTP URL, such as
	// http://127.0.0.1:4318 (the spans go to its /v1/traces) or a URL
	// with its own path. Empty: the standard OTEL_EXPORTER_OTLP_ENDPOINT
	// or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else http://localhost:4318.
	Endpoint string
	// Service is the service.name of the spans, unless the environment's
	// OTEL_SERVICE_NAME says otherwise (for a plugin, Service wins: the
	// variable it inherits names the daemon).
	Service string
	// plugin: Service overrides OTEL_SERVICE_NAME.
	plugin bool
}

// started is what Start set up, or nil while tracing is off.
var started atomic.Pointer[Settings]

// On reports whether Start has turned tracing on in this process.
func On() bool { return started.Load() != nil }

// Wanted reports whether the environment asks for traces: an OTLP endpoint
// is set for them, and neither OTEL_SDK_DISABLED nor
// OTEL_TRACES_EXPORTER=none turns them off.
func Wanted() bool {
	if disabled, _ := strconv.ParseBool(os.Getenv("OTEL_SDK_DISABLED")); disabled {
		return false
	}
	if strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER")) == "none" {
		return false
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != ""
}

// Start turns tracing on: it makes the process's tracer provider one that
// batches spans (OTEL_BSP_* tune it) and sends them over OTLP/HTTP as s
// says (an OTEL_EXPORTER_OTLP_PROTOCOL other than http/protobuf is
// refused), sampled as OTEL_TRACES_SAMPLER says (by default every trace, and
// a span whenever its parent is sampled), and makes W3C trace context the
// process's propagator. Call it once, before starting a node whose spans
// it should carry. stop flushes the spans not yet sent and turns tracing
// off.
func Start(ctx context.Context, s Settings) (stop func(context.Context) error, err error) {
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := os.Getenv(v); p != "" && p != "http/protobuf" {
			return nil, fmt.Errorf("%s=%s: netabase sends traces over OTLP/HTTP (http/protobuf) only; point it at the collector's OTLP/HTTP endpoint (port 4318 by default) and unset %s", v, p, v)
		}
	}
	var opts []otlptracehttp.Option
	if s.Endpoint != "" {
		opts = append(opts, otlptracehttp.WithEndpointURL(s.Endpoint))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cannot export traces to %s: %w", EndpointText(s.Endpoint), err)
	}
	name := resource.WithAttributes(attribute.String("service.name", s.Service))
	detectors := []resource.Option{name, resource.WithFromEnv()}
	if s.plugin {
		detectors = []resource.Option{resource.WithFromEnv(), name}
	}
	res, err := resource.New(ctx, detectors...)
	if err != nil {
		_ = exp.Shutdown(ctx)
		return nil, fmt.Errorf("cannot describe this process for its traces (check OTEL_RESOURCE_ATTRIBUTES): %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	started.Store(&s)
	return func(ctx context.Context) error {
		started.Store(nil)
		otel.SetTracerProvider(noop.NewTracerProvider())
		return tp.Shutdown(ctx)
	}, nil
}

// EndpointText names where spans go: endpoint, or what the environment
// says when it is empty.
func EndpointText(endpoint string) string {
	if endpoint != "" {
		return endpoint
	}
	for _, v := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if e := os.Getenv(v); e != "" {
			return e + " (" + v + ")"
		}
	}
	return "http://localhost:4318 (the default)"
}

// PluginEnv returns the variables that tell a plugin the host traces, to
// add to its environment: none while tracing is off.
func PluginEnv() []string {
	s := started.Load()
	if s == nil {
		return nil
	}
	env := []string{EnvTracing + "=1"}
	if s.Endpoint != "" {
		env = append(env, EnvEndpoint+"="+s.Endpoint)
	}
	return env
}

// StartPlugin turns tracing on in a plugin process when the host that
// launched it asked for its spans (see PluginEnv), under the service name
// netabase-plugin-<name>. It returns stop (nil when tracing stays off),
// which flushes the spans not yet sent.
func StartPlugin(name string) (stop func(context.Context) error, err error) {
	if os.Getenv(EnvTracing) == "" {
		return nil, nil
	}
	return Start(context.Background(), Settings{Endpoint: os.Getenv(EnvEndpoint), Service: "netabase-plugin-" + name, plugin: true})
}
