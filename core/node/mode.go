package node

import (
	"context"
	"fmt"
	"slices"

	"github.com/libp2p/go-libp2p/core/network"
)

// ModeInfo is the DHT's mode: the one configured, and the one in effect
// (ModeClient or ModeServer), which differs from ModeAuto's by what the
// node learns of its reachability.
type ModeInfo struct {
	Configured Mode
	Effective  Mode
}

// Mode returns the DHT's mode.
func (n *Node) Mode() ModeInfo {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.modeLocked()
}

func (n *Node) modeLocked() ModeInfo {
	eff := ModeClient
	// The DHT serves exactly when it has registered its protocol handler.
	if slices.Contains(n.host.Mux().Protocols(), n.kadProtocol()) {
		eff = ModeServer
	}
	return ModeInfo{Configured: n.mode, Effective: eff}
}

// SetMode changes the DHT's mode. kad-dht fixes a DHT's mode when it is
// created, so the node replaces its DHT with one in the new mode, over the
// same store and host: records and provider records stay, and the routing
// table refills from the connected peers. Peers learn of the change
// through Identify, and drop a node that stopped serving from their routing
// tables at the latest when they next query it. Operations in flight
// finish first; operations that start meanwhile wait.
func (n *Node) SetMode(ctx context.Context, m Mode) (ModeInfo, error) {
	if _, err := ParseMode(string(m)); err != nil {
		return ModeInfo{}, err
	}
	if err := ctx.Err(); err != nil {
		return ModeInfo{}, err
	}
	n.mu.Lock()
	if n.ctx.Err() != nil || n.dht == nil {
		n.mu.Unlock()
		return ModeInfo{}, ErrClosed
	}
	if m == n.mode {
		info := n.modeLocked()
		n.mu.Unlock()
		return info, nil
	}
	old := n.dht
	if err := old.Close(); err != nil {
		n.log.Warn("closing the DHT for a mode change", "error", err)
	}
	// A closed DHT leaves its protocol handler behind, and goes on
	// answering on the streams peers had opened to it.
	n.host.RemoveStreamHandler(n.kadProtocol())
	for _, c := range n.host.Network().Conns() {
		for _, s := range c.GetStreams() {
			if s.Protocol() == n.kadProtocol() && s.Stat().Direction == network.DirInbound {
				_ = s.Reset()
			}
		}
	}
	d, err := n.newDHT(m)
	if err != nil {
		// Bring back a DHT in the old mode, so the node keeps working.
		d2, err2 := n.newDHT(n.mode)
		if err2 != nil {
			n.dht = nil
			n.mu.Unlock()
			return ModeInfo{}, fmt.Errorf("changing the DHT mode failed (%v), and so did restoring it: %w", err, err2)
		}
		n.setDHT(d2)
		n.mu.Unlock()
		return ModeInfo{}, fmt.Errorf("changing the DHT mode: %w", err)
	}
	n.setDHT(d)
	n.mode = m
	n.mu.Unlock()
	return n.checkMode(), nil
}

// checkMode publishes ModeChanged when the mode differs from the one last
// published, and returns it.
func (n *Node) checkMode() ModeInfo {
	// modeMu is held while the mode is read, so that two checks publish
	// in the order they read.
	n.modeMu.Lock()
	defer n.modeMu.Unlock()
	n.mu.RLock()
	if n.dht == nil {
		n.mu.RUnlock()
		return ModeInfo{}
	}
	info := n.modeLocked()
	n.mu.RUnlock()
	if info != n.lastMode {
		n.lastMode = info
		n.publish(ModeChanged{At: now(), ModeInfo: info})
	}
	return info
}
