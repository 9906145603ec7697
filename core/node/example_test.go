package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ma "github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/conformance"
	"github.com/netabase/netabase/core/node"
)

// Two nodes on loopback: one publishes a record, the other fetches it. The
// caller composes each node: the registry of backends it may open and the
// conformance suite its backend must pass are New's to be given, not to
// choose.
func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "netabase-example-")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	start := func(name string) (*node.Node, error) {
		return node.New(ctx, node.Config{
			DataDir:  filepath.Join(dir, name),
			Registry: all.Registry(),
			Suite:    conformance.Suite(""),
			// Nodes sharing a certificate directory run the conformance
			// suite once per backend.
			CertDir: dir,
			// Left out, these are pebble in the data directory and TCP and
			// QUIC on port 4101; mDNS is off unless MDNS is set.
			Storage: "memory://",
			Listen:  []ma.Multiaddr{ma.StringCast("/ip4/127.0.0.1/tcp/0")},
		})
	}
	alice, err := start("alice")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer alice.Close()
	bob, err := start("bob")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer bob.Close()

	// Addrs end in /p2p/<peer ID>: what netabase id prints, and what
	// --bootstrap takes.
	addr, err := node.ParsePeerAddr(alice.Addrs()[0].String())
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := bob.Connect(ctx, addr); err != nil {
		fmt.Println(err)
		return
	}
	for _, n := range []*node.Node{alice, bob} {
		if _, err := n.Bootstrap(ctx); err != nil {
			fmt.Println(err)
			return
		}
	}

	res, err := alice.Publish(ctx, "greeting", "text/plain", 1, []byte("hello, bob"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("peers that accepted alice's record:", res.Accepted)

	env, err := bob.FetchRecord(ctx, res.Key)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("bob got %q, signed by alice: %v\n", env.Value, res.Key == "/netabase/"+alice.ID().String()+"/greeting")
	// Output:
	// peers that accepted alice's record: 1
	// bob got "hello, bob", signed by alice: true
}
