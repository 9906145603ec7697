package host_test

import (
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/internal/testkit/testplugins"
	"github.com/netabase/netabase/plugins/host"
	"github.com/netabase/netabase/plugins/sdk/sdktest"
)

func needProc(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("the program a process runs is checked through /proc, on Linux only")
	}
}

// TestCheckRunning checks the check of the program a process runs against
// a checksum, on this test's own process.
func TestCheckRunning(t *testing.T) {
	needProc(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	sum, err := host.Checksum(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := host.CheckRunning(os.Getpid(), exe, sum); err != nil {
		t.Errorf("the running test binary against its own checksum: %v", err)
	}
	wrong := strings.Repeat("0", 64)
	err = host.CheckRunning(os.Getpid(), exe, wrong)
	var ce *host.ChecksumError
	if !errors.As(err, &ce) || ce.PID != os.Getpid() || ce.Got != sum || !errors.Is(err, core.ErrRejected) {
		t.Fatalf("the running test binary against a wrong checksum: %v; want a ChecksumError for pid %d", err, os.Getpid())
	}
	for _, w := range []string{exe, "changed while it was starting", sum, wrong} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error does not say %q: %v", w, err)
		}
	}
}

// TestRunningProgramChecked checks that every start verifies the program
// its process runs: a plugin whose process runs a program other than the
// pinned binary (as when the file is replaced between go-plugin's check
// and the start) is refused and stopped, and a script, whose process runs
// its interpreter, is checked by its path alone.
func TestRunningProgramChecked(t *testing.T) {
	needProc(t)
	liar := pluginURL(t, testplugins.Liar, url.Values{"lie": {"none"}})

	t.Run("same", func(t *testing.T) {
		var mu sync.Mutex
		var checked []int
		defer host.SetExePath(func(pid int) string {
			mu.Lock()
			checked = append(checked, pid)
			mu.Unlock()
			return "/proc/" + strconv.Itoa(pid) + "/exe"
		})()
		events := make(chan host.Event, 16)
		d := host.NewWatchedDriver(host.Config{Logger: sdktest.TestLogger(t)}, func(e host.Event) { events <- e })
		b, err := core.OpenURL(t.Context(), d, mustParse(t, liar))
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		up := await(t, events, host.Up)
		mu.Lock()
		defer mu.Unlock()
		// core.OpenURL starts the plugin to describe it, then to open it.
		if len(checked) != 2 || checked[1] != up.PID {
			t.Errorf("the host checked the programs of pids %v; want those of both starts, the store's last (%d)", checked, up.PID)
		}
	})

	t.Run("swapped", func(t *testing.T) {
		other := bins[testplugins.Mute]
		defer host.SetExePath(func(int) string { return other })()
		d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
		b, err := core.OpenURL(t.Context(), d, mustParse(t, liar))
		if err == nil {
			b.Close()
			t.Fatal("a plugin running another program than the pinned binary was opened")
		}
		var ce *host.ChecksumError
		if !errors.As(err, &ce) || ce.PID == 0 || !errors.Is(err, core.ErrRejected) {
			t.Fatalf("a swapped plugin: %v; want a ChecksumError naming the process", err)
		}
		for _, w := range []string{bins[testplugins.Liar], "changed while it was starting"} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("the error does not say %q: %v", w, err)
			}
		}
		if err := syscall.Kill(ce.PID, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("the refused plugin (pid %d) still runs: %v", ce.PID, err)
		}
	})

	t.Run("script", func(t *testing.T) {
		script := filepath.Join(t.TempDir(), "liar.sh")
		if err := os.WriteFile(script, []byte("#!/bin/sh\nexec '"+bins[testplugins.Liar]+"' \"$@\"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		sum, err := host.Checksum(script)
		if err != nil {
			t.Fatal(err)
		}
		d := host.NewDriver(host.Config{Logger: sdktest.TestLogger(t)})
		b, err := core.OpenURL(t.Context(), d, mustParse(t, host.FormatURL(script, sum, url.Values{"lie": {"none"}})))
		if err != nil {
			t.Fatalf("a pinned script that runs the plugin: %v", err)
		}
		if err := b.Close(); err != nil {
			t.Error(err)
		}
	})
}
