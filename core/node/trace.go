package node

import (
	"context"
	"errors"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/netabase/netabase/core"
)

// startSpan starts the span of the operation name on key, through the
// process's tracer provider (otel.SetTracerProvider); until a program sets
// one, it records nothing. kad-dht's own spans (its lookups and RPCs) go
// through the same provider, so they are children of these.
func startSpan(ctx context.Context, name, key string) (context.Context, trace.Span) {
	return otel.Tracer("github.com/netabase/netabase/core/node").Start(ctx, name, trace.WithAttributes(attribute.String("netabase.key", key)))
}

// endSpan ends span, marking it failed by *err unless that is nil or
// not found, an answer rather than a failure. Call it deferred, with the
// address of the operation's named error.
func endSpan(span trace.Span, err *error) {
	if *err != nil && !errors.Is(*err, core.ErrNotFound) {
		span.SetStatus(codes.Error, (*err).Error())
	}
	span.End()
}
