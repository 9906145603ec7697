package host

import (
	"context"
	"errors"
	"time"

	ds "github.com/ipfs/go-datastore"
	"google.golang.org/grpc/health/grpc_health_v1"
)

// Ping makes a bare unary gRPC call, go-plugin's health check, on the
// connection of the plugin store b (as Open returns it): the benchmarks'
// baseline for a round trip on the same socket.
func Ping(ctx context.Context, b ds.Batching) error {
	s, ok := b.(*store)
	if !ok {
		return errors.New("not a plugin store")
	}
	g, err := s.current()
	if err != nil {
		return err
	}
	_, err = grpc_health_v1.NewHealthClient(g.conn).Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: "plugin"})
	return err
}

// SetCloseTimeout sets the bound of a plugin's Close of its store, and
// returns what restores it.
func SetCloseTimeout(d time.Duration) (restore func()) {
	old := closeTimeout
	closeTimeout = d
	return func() { closeTimeout = old }
}
