//go:build !(js && wasm)

package nodetest

import (
	"context"
	"fmt"
	"os"
	"testing"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/node"
)

// certDir is the certificate cache of the test binary's nodes, made by Main.
var certDir string

// Main runs a package's tests (call it from TestMain, as
// os.Exit(nodetest.Main(m))) with a certificate cache for all their
// nodes, removed afterwards, and returns the exit code. It first admits
// the storage URLs of admit, so that tests starting nodes in parallel on
// those backends do not each run the suite.
func Main(m *testing.M, admit ...string) int {
	dir, err := os.MkdirTemp("", "netabase-test-certs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	certDir = dir
	for _, url := range admit {
		if err := Admit(url); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return m.Run()
}

// CertDir is the certificate cache Main made, for a node.Config or a
// core.Gate of a test's own.
func CertDir() string { return certDir }

// Admit runs the admission gate on url with the shared certificate cache,
// so that nodes started afterwards on the same backend find it admitted.
func Admit(url string) error {
	gate := &core.Gate{Registry: all.Registry(), Suite: conformance.Suite(""), CertDir: certDir}
	b, _, err := gate.Admit(context.Background(), url)
	if err != nil {
		return err
	}
	return b.Close()
}

// Config is a loopback node on an in-memory store, in server mode,
// without mDNS, in a data directory of its own, with the in-tree backends,
// the real suite and the shared certificate cache.
func Config(t testing.TB) node.Config {
	t.Helper()
	return node.Config{
		DataDir: t.TempDir(), CertDir: certDir, Registry: all.Registry(), Suite: conformance.Suite(""),
		Storage: "memory://",
		Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		Mode:    node.ModeServer,
	}
}

// Start starts a node of cfg, closed when the test ends, failing the test
// when either fails.
func Start(t testing.TB, cfg node.Config) *node.Node {
	t.Helper()
	n, err := node.New(Context(t), cfg)
	if err != nil {
		t.Fatalf("starting a node: %v", err)
	}
	t.Cleanup(func() {
		if err := n.Close(); err != nil {
			t.Errorf("closing node %s: %v", n.ID(), err)
		}
	})
	return n
}
