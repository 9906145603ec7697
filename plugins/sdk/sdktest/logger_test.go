package sdktest_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

// recorder is a testing.TB that keeps what is logged to it.
type recorder struct {
	testing.TB
	lines []string
}

func (r *recorder) Log(args ...any) { r.lines = append(r.lines, fmt.Sprint(args...)) }

// TestLoggerQuiet: debug lines reach the test log only with go test -v.
func TestLoggerQuiet(t *testing.T) {
	r := &recorder{TB: t}
	log := sdktest.TestLogger(r)
	log.Debug("storage plugin is up", "store", "plugin:///x")
	log.Warn("restarting storage plugin")
	want := []string{"WARN restarting storage plugin"}
	if testing.Verbose() {
		want = append([]string{"DEBUG storage plugin is up"}, want...)
	}
	if len(r.lines) != len(want) {
		t.Fatalf("logged %q; want lines with %q", r.lines, want)
	}
	for i, w := range want {
		if !strings.Contains(r.lines[i], w) {
			t.Errorf("line %d is %q; want %q in it", i, r.lines[i], w)
		}
	}
}
