package node_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/netabase/netabase/internal/testkit/nodetest"
)

// TestLibp2pMetrics checks that a node given a registry has go-libp2p
// report to it, the resource manager included, and that two nodes can
// share one.
func TestLibp2pMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	for range 2 {
		cfg := nodetest.Config(t)
		cfg.Metrics = reg
		nodetest.Start(t, cfg)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	prefixes := []string{"libp2p_rcmgr_", "libp2p_swarm_", "libp2p_eventbus_"}
	seen := map[string]bool{}
	for _, f := range families {
		for _, prefix := range prefixes {
			if strings.HasPrefix(f.GetName(), prefix) {
				seen[prefix] = true
			}
		}
	}
	for _, prefix := range prefixes {
		if !seen[prefix] {
			t.Errorf("no %s* metric among the %d gathered", prefix, len(families))
		}
	}
}
