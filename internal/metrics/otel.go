package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// BridgeOpenTelemetry puts the process's OpenTelemetry metrics into reg:
// go-libp2p-kad-dht reports its own (RPCs sent and received, their bytes
// and latency, the provider system) only through OpenTelemetry's global
// meter provider. Their names take the prefix libp2p_kad_dht_, as
// OpenTelemetry's Prometheus exporter translates them (rpc.inbound.messages
// becomes libp2p_kad_dht_rpc_inbound_messages_total).
//
// It replaces the global meter provider, so a process calls it once; the
// daemon does. The returned function stops the provider.
func BridgeOpenTelemetry(reg prometheus.Registerer) (stop func(context.Context) error, err error) {
	exp, err := otelprom.New(otelprom.WithRegisterer(reg), otelprom.WithNamespace("libp2p_kad_dht"),
		otelprom.WithoutScopeInfo(), otelprom.WithoutTargetInfo())
	if err != nil {
		return nil, err
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	otel.SetMeterProvider(mp)
	return mp.Shutdown, nil
}
