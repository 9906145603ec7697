package node

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"syscall"

	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
)

// checkListenFree refuses a listen address whose port another socket
// already listens on. go-libp2p's TCP transport listens with SO_REUSEPORT,
// so that its dials can leave from the listen port (which NAT traversal
// needs), and with it a second node on the same address listens too and
// the kernel splits the incoming connections between the two. QUIC's UDP
// socket has no SO_REUSEPORT, so its listen fails on a port in use, but
// go-libp2p starts when any one of its addresses listens. So before the
// host starts, each address with a fixed port is bound once without
// SO_REUSEPORT, which fails while any other socket listens there, and
// released at once; the node's own listener then still reuses the port for
// its dials. Only a port in use stops the start here: other bind errors
// (such as IPv6 missing on the machine) are left to go-libp2p, as before.
// Two nodes that probe the same port at the same instant can both pass.
func checkListenFree(addrs []ma.Multiaddr) error {
	for _, a := range addrs {
		network, address, err := manet.DialArgs(a)
		if err != nil {
			continue // not TCP or UDP over IP: go-libp2p says what it makes of it
		}
		host, port, err := net.SplitHostPort(address)
		if err != nil || port == "0" {
			continue // port 0 takes a free port
		}
		if _, err := netip.ParseAddr(host); err != nil {
			continue // a DNS name: go-libp2p does not listen on those
		}
		if err := probe(network, address); errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("another process already listens on %s; stop it, or give this node another port in the listen key or --listen (port 0, as in %s, takes any free one)", a, anyPort(a))
		}
	}
	return nil
}

// anyPort is a with its TCP or UDP port 0.
func anyPort(a ma.Multiaddr) ma.Multiaddr {
	out := slices.Clone(a)
	for i, c := range out {
		if c.Code() == ma.P_TCP || c.Code() == ma.P_UDP {
			if zero, err := ma.NewComponent(c.Protocol().Name, "0"); err == nil {
				out[i] = *zero
			}
		}
	}
	return out
}

// probe binds address on network and releases it.
func probe(network, address string) error {
	switch network {
	case "tcp4", "tcp6":
		l, err := net.Listen(network, address)
		if err != nil {
			return err
		}
		return l.Close()
	case "udp4", "udp6":
		c, err := net.ListenPacket(network, address)
		if err != nil {
			return err
		}
		return c.Close()
	}
	return nil
}
