package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
)

func TestWanted(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{map[string]string{}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4318/v1/traces"}, true},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_SDK_DISABLED": "true"}, false},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_EXPORTER": "none"}, false},
	} {
		for _, v := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER"} {
			t.Setenv(v, tc.env[v])
		}
		if got := Wanted(); got != tc.want {
			t.Errorf("Wanted() with %v = %v", tc.env, got)
		}
	}
}

// on turns tracing on for the test with an in-memory recorder as the
// process's provider.
func on(t *testing.T) (*sdktrace.TracerProvider, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	old := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	started.Store(&Settings{Service: "test"})
	t.Cleanup(func() {
		started.Store(nil)
		otel.SetTracerProvider(old)
	})
	return tp, rec
}

// TestOffInstallsNothing: with tracing off the plugin hop has no hook and
// a plugin is not told to trace.
func TestOffInstallsNothing(t *testing.T) {
	if DialOptions() != nil || ServerOptions() != nil || PluginEnv() != nil {
		t.Error("tracing is off, yet the plugin hop gets hooks or variables")
	}
}

// TestPluginHop: the host's interceptor puts the caller's span context in
// the call's metadata, and the plugin's makes a server span its child; a
// call without a trace gets no span.
func TestPluginHop(t *testing.T) {
	tp, rec := on(t)
	if env := PluginEnv(); len(env) != 1 || env[0] != EnvTracing+"=1" {
		t.Errorf("PluginEnv() = %q", env)
	}
	ctx, parent := tp.Tracer("test").Start(context.Background(), "backend put")
	var sent metadata.MD
	invoker := func(ctx context.Context, _ string, _, _ any, _ *grpc.ClientConn, _ ...grpc.CallOption) error {
		sent, _ = metadata.FromOutgoingContext(ctx)
		return nil
	}
	if err := injectUnary(ctx, "/netabase.storage.v1.Storage/Put", nil, nil, nil, invoker); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if len(sent.Get("traceparent")) != 1 {
		t.Fatalf("the call's metadata carries no traceparent: %v", sent)
	}
	var inside trace.SpanContext
	handler := func(ctx context.Context, _ any) (any, error) {
		inside = trace.SpanContextFromContext(ctx)
		return nil, nil
	}
	info := &grpc.UnaryServerInfo{FullMethod: "/netabase.storage.v1.Storage/Put"}
	if _, err := spanUnary(metadata.NewIncomingContext(context.Background(), sent), nil, info, handler); err != nil {
		t.Fatal(err)
	}
	traced := inside
	if _, err := spanUnary(metadata.NewIncomingContext(context.Background(), metadata.MD{}), nil, info, handler); err != nil {
		t.Fatal(err)
	}
	var server []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.Name() == "plugin Put" {
			server = append(server, s)
		}
	}
	if len(server) != 1 {
		t.Fatalf("%d plugin spans, want 1 (none for the call without a trace)", len(server))
	}
	if s := server[0]; s.Parent().SpanID() != parent.SpanContext().SpanID() || s.SpanContext().TraceID() != parent.SpanContext().TraceID() || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("the plugin's span %v is not a server span child of the caller's %v", s.Parent(), parent.SpanContext())
	}
	if traced.SpanID() != server[0].SpanContext().SpanID() {
		t.Error("the handler does not run in the plugin's span")
	}
}

// TestHandler: a control call's span is named by its route and continues
// a trace its request carries.
func TestHandler(t *testing.T) {
	tp, rec := on(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/record", func(w http.ResponseWriter, r *http.Request) {
		if !trace.SpanContextFromContext(r.Context()).IsValid() {
			t.Error("the handler runs outside the call's span")
		}
	})
	srv := httptest.NewServer(Handler(mux))
	defer srv.Close()
	ctx, caller := tp.Tracer("test").Start(context.Background(), "client")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1/record?key=x", nil)
	w3c.Inject(ctx, propagation.HeaderCarrier(req.Header))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	caller.End()
	for _, s := range rec.Ended() {
		if s.Name() == "control GET /v1/record" {
			if s.Parent().SpanID() != caller.SpanContext().SpanID() {
				t.Error("the control span does not continue the request's trace")
			}
			return
		}
	}
	t.Errorf("no span control GET /v1/record among %d", len(rec.Ended()))
}

// TestStartRefusesGRPC: an OTLP protocol other than OTLP/HTTP is refused
// with what to do, and tracing stays off.
func TestStartRefusesGRPC(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	stop, err := Start(context.Background(), Settings{Endpoint: "http://127.0.0.1:4318", Service: "test"})
	if err == nil {
		_ = stop(context.Background())
		t.Fatal("Start took OTEL_EXPORTER_OTLP_PROTOCOL=grpc")
	}
	if !strings.Contains(err.Error(), "OTLP/HTTP (http/protobuf) only") || On() {
		t.Errorf("Start said %q, tracing on: %v", err, On())
	}
}
