package testplugins

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
)

// The plugins' packages.
const (
	Pebble     = "github.com/netabase/netabase/internal/testkit/testplugins/pebbleplugin"
	PebbleV1   = "github.com/netabase/netabase/internal/testkit/testplugins/pebblev1plugin"
	NotAPlugin = "github.com/netabase/netabase/internal/testkit/testplugins/notaplugin"
	Crash      = "github.com/netabase/netabase/internal/testkit/testplugins/crashplugin"
	OtherProto = "github.com/netabase/netabase/internal/testkit/testplugins/otherproto"
	Bad        = "github.com/netabase/netabase/internal/testkit/testplugins/badplugin"
	Liar       = "github.com/netabase/netabase/internal/testkit/testplugins/liarplugin"
	Mute       = "github.com/netabase/netabase/internal/testkit/testplugins/muteplugin"
	Spec       = "github.com/netabase/netabase/internal/testkit/testplugins/specplugin"
	Lazy       = "github.com/netabase/netabase/internal/testkit/testplugins/lazyplugin"
	Namespace  = "github.com/netabase/netabase/internal/testkit/testplugins/nsplugin"
	Partial    = "github.com/netabase/netabase/internal/testkit/testplugins/partialplugin"
	// Bbolt is the example plugin an outside author would write.
	Bbolt = "github.com/netabase/netabase/examples/plugin-bbolt"
)

// Build builds the plugins pkgs into dir with one `go build` (the build
// cache keeps repeated builds fast) and returns each binary's path by
// package.
func Build(dir string, pkgs ...string) (map[string]string, error) {
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		goCmd = "go"
	}
	cmd := exec.Command(goCmd, append([]string{"build", "-o", dir + string(filepath.Separator)}, pkgs...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the test plugins: %v\n%s", err, out)
	}
	bins := map[string]string{}
	for _, p := range pkgs {
		bins[p] = filepath.Join(dir, path.Base(p))
	}
	return bins, nil
}

// ProtocolEnv names the variable that, when set to a protocol version,
// makes the test plugins built with the SDK (pebbleplugin, liarplugin) and
// partialplugin serve no newer version: the host's tests run the same
// cases under every version with it. A plugin inherits the host's
// environment.
const ProtocolEnv = "NETABASE_TEST_PLUGIN_PROTOCOL"

// MaxProtocol returns the version ProtocolEnv names, or 0 (every version)
// when it is unset or not a number.
func MaxProtocol() int {
	n, err := strconv.Atoi(os.Getenv(ProtocolEnv))
	if err != nil {
		return 0
	}
	return n
}
