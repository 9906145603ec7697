package netabase_test

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/core/envelope"
	"github.com/netabase/netabase/core/gateway/wsync"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
	"github.com/netabase/netabase/plugins/wire"
)

// limits are the size limits ARCHITECTURE.md's Limits table lists, by the
// name it gives them, in bytes.
var limits = map[string]int64{
	"core.MaxValueSize":       core.MaxValueSize,
	"core.MaxKeySize":         core.MaxKeySize,
	"wire.MaxMessageSize":     wire.MaxMessageSize,
	"wire.MaxNamespace":       wire.MaxNamespace,
	"envelope.MaxSize":        envelope.MaxSize,
	"envelope.MaxNameSize":    envelope.MaxNameSize,
	"node.MaxGossipMessage":   node.MaxGossipMessage,
	"replica.MaxFrame":        replica.MaxFrame,
	"replica.MaxKeySize":      replica.MaxKeySize,
	"replica.MaxNameSize":     replica.MaxNameSize,
	"replica.MaxInboundBytes": replica.MaxInboundBytes,
	"wsync.MaxMessage":        wsync.MaxMessage,
	"quota.max_mib":           node.DefaultQuota().MaxBytes,
	"quota.max_mib_per_peer":  node.DefaultQuota().MaxBytesPerPeer,
	"quota.max_mib_per_owner": node.DefaultQuota().MaxBytesPerOwner,
}

// limitRow is a row of the Limits table: its constant and its bytes.
var limitRow = regexp.MustCompile("(?m)^\\| [^|]+ \\| `([^`]+)` \\| ([0-9]+) \\|")

// TestLimitsTable: ARCHITECTURE.md's Limits table lists every limit of
// limits once, each with the value its constant has.
func TestLimitsTable(t *testing.T) {
	doc, err := os.ReadFile("ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, m := range limitRow.FindAllStringSubmatch(string(doc), -1) {
		name := m[1]
		want, ok := limits[name]
		if !ok {
			t.Errorf("ARCHITECTURE.md's Limits table lists %s, which limits_test.go does not know: add it to limits", name)
			continue
		}
		if seen[name] {
			t.Errorf("ARCHITECTURE.md's Limits table lists %s twice", name)
		}
		seen[name] = true
		if got, _ := strconv.ParseInt(m[2], 10, 64); got != want {
			t.Errorf("ARCHITECTURE.md's Limits table gives %s as %s bytes; it is %d", name, m[2], want)
		}
	}
	for name := range limits {
		if !seen[name] {
			t.Errorf("ARCHITECTURE.md's Limits table has no row for %s", name)
		}
	}
}
