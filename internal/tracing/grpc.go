package tracing

import (
	"context"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// w3c is the propagator of both hops: W3C trace context, whatever the
// process's own propagator is.
var w3c = propagation.TraceContext{}

// mdCarrier is gRPC metadata as a propagation carrier. gRPC's keys are
// lower case, as W3C's traceparent and tracestate are.
type mdCarrier metadata.MD

func (c mdCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }
func (c mdCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

// DialOptions are the options a host dials a plugin with so that each
// call carries the trace context of its caller (the span of the backend
// operation) in its metadata: none while tracing is off, so an untraced
// call costs nothing more.
func DialOptions() []grpc.DialOption {
	if !On() {
		return nil
	}
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(injectUnary), grpc.WithChainStreamInterceptor(injectStream)}
}

// inject adds ctx's span context, when it has one, to ctx's outgoing
// metadata.
func inject(ctx context.Context) context.Context {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx
	}
	md, _ := metadata.FromOutgoingContext(ctx)
	md = md.Copy()
	w3c.Inject(ctx, mdCarrier(md))
	return metadata.NewOutgoingContext(ctx, md)
}

func injectUnary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	return invoker(inject(ctx), method, req, reply, cc, opts...)
}

func injectStream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return streamer(inject(ctx), desc, cc, method, opts...)
}

// TraceParent returns the W3C traceparent of ctx's span when tracing is on
// and the span is sampled, and "" otherwise: for a message that carries one
// trace's work on a stream that outlives it (a group on protocol version
// 2's Write stream).
func TraceParent(ctx context.Context) string {
	if !On() || !trace.SpanContextFromContext(ctx).IsSampled() {
		return ""
	}
	c := propagation.MapCarrier{}
	w3c.Inject(ctx, c)
	return c.Get("traceparent")
}

// MessageSpan starts the server span, "plugin "+name, of a message that
// carried traceparent; it returns ctx and a nil span when traceparent is
// empty, malformed or not sampled, or tracing is off. End it with EndSpan.
func MessageSpan(ctx context.Context, traceparent, name string) (context.Context, trace.Span) {
	if traceparent == "" || !On() {
		return ctx, nil
	}
	parent := trace.SpanContextFromContext(w3c.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent}))
	if !parent.IsValid() || !parent.IsSampled() {
		return ctx, nil
	}
	return otel.Tracer("github.com/netabase/netabase/plugins/sdk").Start(
		trace.ContextWithRemoteSpanContext(ctx, parent), "plugin "+name, trace.WithSpanKind(trace.SpanKindServer))
}

// EndSpan ends span, if there is one, with err's outcome.
func EndSpan(span trace.Span, err error) { endServerSpan(span, err) }

// ServerOptions are the options a plugin serves with so that each call
// that carries a sampled trace context gets a server span, a child of the
// caller's: none while tracing is off in the plugin (see StartPlugin).
func ServerOptions() []grpc.ServerOption {
	if !On() {
		return nil
	}
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(spanUnary), grpc.ChainStreamInterceptor(spanStream)}
}

// serverSpan starts the span of the call method when ctx's metadata holds
// a sampled parent; otherwise it returns a nil span and ctx unchanged.
func serverSpan(ctx context.Context, method string) (context.Context, trace.Span) {
	md, ok := metadata.FromIncomingContext(ctx)
	if !ok {
		return ctx, nil
	}
	parent := trace.SpanContextFromContext(w3c.Extract(ctx, mdCarrier(md)))
	if !parent.IsValid() || !parent.IsSampled() {
		return ctx, nil
	}
	service, name, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	return otel.Tracer("github.com/netabase/netabase/plugins/sdk").Start(
		trace.ContextWithRemoteSpanContext(ctx, parent), "plugin "+name,
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("rpc.system", "grpc"), attribute.String("rpc.service", service), attribute.String("rpc.method", name)))
}

// endServerSpan ends span, if there is one, with the call's outcome.
func endServerSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.SetStatus(codes.Error, status.Convert(err).Message())
	}
	span.End()
}

func spanUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx, span := serverSpan(ctx, info.FullMethod)
	resp, err := handler(ctx, req)
	endServerSpan(span, err)
	return resp, err
}

func spanStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx, span := serverSpan(ss.Context(), info.FullMethod)
	if span == nil {
		return handler(srv, ss)
	}
	err := handler(srv, &tracedStream{ServerStream: ss, ctx: ctx})
	endServerSpan(span, err)
	return err
}

// tracedStream is a server stream whose context holds the call's span.
type tracedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *tracedStream) Context() context.Context { return s.ctx }
