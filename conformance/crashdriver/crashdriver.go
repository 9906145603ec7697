// Package crashdriver lets the conformance suite crash the stores of an
// in-process engine, so that its durable case runs in go test the way it
// runs for a plugin.
//
// The suite's durable case needs a store it can end abruptly, as a crash of
// the process holding it would. A plugin runs in its own process, which the
// plugin driver kills; an in-process engine runs in the test's own process,
// which the suite cannot kill. A crash driver moves the engine into a child
// process: [New] wraps an engine's core.Driver in a
// [conformance.CrashDriver] whose Open starts the test binary again as a
// child that opens the store with the wrapped driver and serves it over a
// pair of pipes, and whose Crash kills that child with SIGKILL. The next
// Open starts a new child on what the crash left.
//
// The child is the test binary itself, so its TestMain hands it to
// [ServeChild] before running the tests:
//
//	func TestMain(m *testing.M) {
//		crashdriver.ServeChild(pebblestore.Driver())
//		os.Exit(m.Run())
//	}
//
//	func TestCrash(t *testing.T) {
//		d := crashdriver.New(pebblestore.Driver())
//		u := &url.URL{Scheme: "pebble", Path: "/unused"}
//		conformancetest.Run(t, conformance.URLHarness(d, u, d.About().Info(), t.TempDir()))
//	}
//
// A store reached through the pipes is a go-datastore Batching and no more:
// a crash driver declares the wrapped driver's capabilities without ttl and
// transactions, which an in-process run of the suite checks.
package crashdriver

import (
	"context"
	"encoding/gob"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"syscall"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
)

// childEnv, set to a store URL in a child's environment, makes the test
// binary serve that store instead of running its tests.
const childEnv = "NETABASE_CRASHDRIVER_CHILD"

// The child reads requests from file descriptor 3 and writes responses to
// 4, so that nothing the engine prints can garble them.
const (
	requestFD  = 3
	responseFD = 4
)

// Driver is a conformance.CrashDriver whose stores live in child processes.
type Driver struct {
	d core.Driver
}

var _ conformance.CrashDriver = (*Driver)(nil)

// New returns a crash driver for the stores d opens. The test binary's
// TestMain must call [ServeChild] with a driver for the same scheme.
func New(d core.Driver) *Driver { return &Driver{d: d} }

// About is the wrapped driver's, without the ttl and transactions
// capabilities, which its stores do not offer across the pipes.
func (d *Driver) About() core.About {
	a := d.d.About()
	a.Capabilities = withoutExtras(a.Capabilities)
	return a
}

// Describe is the wrapped driver's, with the capabilities About has.
func (d *Driver) Describe(ctx context.Context, u *url.URL) (core.Info, error) {
	info, err := d.d.Describe(ctx, u)
	info.Capabilities = withoutExtras(info.Capabilities)
	return info, err
}

func withoutExtras(c core.Capabilities) core.Capabilities {
	c.TTL, c.Transactions = false, false
	return c
}

// Scratch is the wrapped driver's.
func (d *Driver) Scratch(ctx context.Context, u *url.URL, root string) (*url.URL, func() error, error) {
	return d.d.Scratch(ctx, u, root)
}

// Open starts a child process that opens the store u names and returns the
// store the child serves. Closing it closes the store and ends the child.
func (d *Driver) Open(ctx context.Context, u *url.URL) (ds.Batching, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding the test binary to start a child: %w", err)
	}
	reqR, reqW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	respR, respW, err := os.Pipe()
	if err != nil {
		_, _ = reqR.Close(), reqW.Close()
		return nil, err
	}
	// -test.run=^$ runs no test in a binary whose TestMain forgot
	// ServeChild; the child then exits and Open says why.
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+u.String())
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.ExtraFiles = []*os.File{reqR, respW} // fds 3 and 4
	err = cmd.Start()
	_, _ = reqR.Close(), respW.Close()
	if err != nil {
		_, _ = reqW.Close(), respR.Close()
		return nil, fmt.Errorf("starting a child to hold the store: %w", err)
	}
	c := &child{cmd: cmd, enc: gob.NewEncoder(reqW), dec: gob.NewDecoder(respR), in: reqW, out: respR}
	// The child's first response says whether it opened the store.
	if _, err := c.receive(); err != nil {
		c.kill()
		return nil, err
	}
	return &store{c: c}, nil
}

// Crash kills the child holding b, a store this driver opened, with
// SIGKILL, and returns once it has exited.
func (d *Driver) Crash(ctx context.Context, b ds.Batching) error {
	s, ok := b.(*store)
	if !ok {
		return fmt.Errorf("cannot crash a %T: it is not a store a crash driver opened", b)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		return core.ErrClosed
	}
	c := s.c
	s.c = nil
	return c.kill()
}

// child is one child process and the pipes to it.
type child struct {
	cmd     *exec.Cmd
	enc     *gob.Encoder
	dec     *gob.Decoder
	in, out *os.File
}

// call sends req and returns the child's response.
func (c *child) call(req *request) (*response, error) {
	if err := c.enc.Encode(req); err != nil {
		return nil, fmt.Errorf("sending %s to the child holding the store: %w", req.Op, err)
	}
	return c.receive()
}

func (c *child) receive() (*response, error) {
	var resp response
	if err := c.dec.Decode(&resp); err != nil {
		return nil, fmt.Errorf("the child holding the store did not answer (does the test's TestMain call crashdriver.ServeChild?): %w", err)
	}
	return &resp, resp.err()
}

// kill ends the child with SIGKILL and reaps it.
func (c *child) kill() error {
	err := c.cmd.Process.Signal(syscall.SIGKILL)
	_ = c.cmd.Wait()
	_, _ = c.in.Close(), c.out.Close()
	if err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("killing the child holding the store: %w", err)
	}
	return nil
}

// wait closes the requests pipe, which ends a child that closed its store,
// and reaps it.
func (c *child) wait() error {
	_ = c.in.Close()
	err := c.cmd.Wait()
	_ = c.out.Close()
	if err != nil {
		return fmt.Errorf("the child holding the store: %w", err)
	}
	return nil
}
