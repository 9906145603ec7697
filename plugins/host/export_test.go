package host

import (
	"context"
	"encoding/hex"
	"errors"
	"net/url"
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

// Protocol returns the protocol version the plugin of the store b chose.
func Protocol(b ds.Batching) (int, error) {
	s, ok := b.(*store)
	if !ok {
		return 0, errors.New("not a plugin store")
	}
	g, err := s.current()
	if err != nil {
		return 0, err
	}
	return g.version, nil
}

// KillPlugin kills the process of the store b with SIGKILL and leaves its
// supervisor to notice and restart it, as when the plugin crashes.
func KillPlugin(b ds.Batching) error {
	s, ok := b.(*store)
	if !ok {
		return errors.New("not a plugin store")
	}
	g, err := s.current()
	if err != nil {
		return err
	}
	return g.cmd.Process.Kill()
}

// SetCloseTimeout sets the bound of a plugin's Close of its store, and
// returns what restores it.
func SetCloseTimeout(d time.Duration) (restore func()) {
	old := closeTimeout
	closeTimeout = d
	return func() { closeTimeout = old }
}

// SetExePath makes the host open the program a plugin process runs at the
// path f gives for its pid, and returns what restores it.
func SetExePath(f func(pid int) string) (restore func()) {
	old := exePath
	exePath = f
	return func() { exePath = old }
}

// CheckRunning verifies that the process pid, started from path, runs the
// binary whose checksum is sum (hex), as the host does at every start.
func CheckRunning(pid int, path, sum string) error {
	b, err := hex.DecodeString(sum)
	if err != nil {
		return err
	}
	return checkRunning(pid, path, b)
}

// DestroyScratch is what the destroy function of a scratch store that
// Scratch made calls, on any URL u: it refuses one whose namespace options
// are not all scratch names.
func (d *Driver) DestroyScratch(ctx context.Context, u *url.URL) error {
	return d.destroyScratch(ctx, u)
}

// Event is a change of a plugin store's state, as NewWatchedDriver's
// onState sees it.
type Event = event

// State is a plugin store's state in an Event.
type State = storeState

// The states of a plugin store.
const (
	Up         = up
	Down       = down
	Restarting = restarting
	Stopped    = stopped
)

// NewWatchedDriver returns NewDriver(cfg), which calls onState with every
// change of state of every store it opens, scratch stores included: Up
// (open, with the process id), Down, Restarting and Stopped (closed by its
// user). Events of one store arrive in order, one at a time, from the
// goroutine that made the change; onState must not block.
func NewWatchedDriver(cfg Config, onState func(Event)) *Driver {
	d := NewDriver(cfg)
	d.onState = onState
	return d
}

// SocketAddr returns the address the plugin of the store b listens on, as
// its handshake line gave it: a unix socket's path on Unix.
func SocketAddr(b ds.Batching) (string, error) {
	s, ok := b.(*store)
	if !ok {
		return "", errors.New("not a plugin store")
	}
	g, err := s.current()
	if err != nil {
		return "", err
	}
	rc := g.client.ReattachConfig()
	if rc == nil || rc.Addr == nil {
		return "", errors.New("the plugin has no address")
	}
	return rc.Addr.String(), nil
}

// PID returns the process id of the plugin of the store b.
func PID(b ds.Batching) (int, error) {
	s, ok := b.(*store)
	if !ok {
		return 0, errors.New("not a plugin store")
	}
	g, err := s.current()
	if err != nil {
		return 0, err
	}
	return g.pid, nil
}
