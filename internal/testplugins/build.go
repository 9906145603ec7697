package testplugins

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
)

// The plugins' packages.
const (
	Pebble     = "github.com/netabase/netabase/internal/testplugins/pebbleplugin"
	NotAPlugin = "github.com/netabase/netabase/internal/testplugins/notaplugin"
	Crash      = "github.com/netabase/netabase/internal/testplugins/crashplugin"
	OtherProto = "github.com/netabase/netabase/internal/testplugins/otherproto"
	Bad        = "github.com/netabase/netabase/internal/testplugins/badplugin"
	Liar       = "github.com/netabase/netabase/internal/testplugins/liarplugin"
	Mute       = "github.com/netabase/netabase/internal/testplugins/muteplugin"
	Spec       = "github.com/netabase/netabase/internal/testplugins/specplugin"
	Lazy       = "github.com/netabase/netabase/internal/testplugins/lazyplugin"
	Namespace  = "github.com/netabase/netabase/internal/testplugins/nsplugin"
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
