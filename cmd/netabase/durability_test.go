package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/backends/all"
	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/internal/control"
)

// TestKilledDaemonKeepsAcknowledgedWrites runs a daemon process on each
// persistent in-tree backend at its defaults, from a config.toml written
// before sync_writes existed (it names the storage URL and not the key),
// puts records through the control API, one writer after another and
// several at once, SIGKILLs the daemon while they write, restarts it and
// counts: every put the daemon acknowledged must still be there.
func TestKilledDaemonKeepsAcknowledgedWrites(t *testing.T) {
	const (
		writers = 8   // writer 0 puts one record after another, like a CLI loop; the rest at once
		killAt  = 400 // acknowledged puts before the kill
	)
	for _, d := range all.Drivers() {
		if !d.About().Capabilities.Persistent {
			continue
		}
		engine := d.About().Scheme
		t.Run(engine, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			dir := shortDir(t)
			if code, _, errOut := runIn(ctx, nil, "init", "--data-dir", dir); code != 0 {
				t.Fatalf("init: %s", errOut)
			}
			old := fmt.Sprintf("storage = %q\nlisten = [\"/ip4/127.0.0.1/tcp/0\"]\nmdns = false\n", engine+"://"+filepath.Join(dir, "store"))
			if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte(old), 0o600); err != nil {
				t.Fatal(err)
			}
			d := startProcess(t, "daemon", "--data-dir", dir)
			waitReady(t, ctx, d.stdout.lines, d.exited, d.output)
			c := control.NewClient(filepath.Join(dir, config.SocketFile))
			defer c.Close()

			var (
				mu    sync.Mutex
				acked = map[string]string{} // record key -> value acknowledged
				kill  = make(chan struct{})
				once  sync.Once
				wg    sync.WaitGroup
			)
			for w := range writers {
				wg.Go(func() {
					for i := 0; ; i++ {
						name, value := fmt.Sprintf("w%d-%d", w, i), fmt.Sprintf("value %d of writer %d", i, w)
						res, err := c.Put(ctx, control.PutRequest{Name: name, Value: []byte(value)})
						if err != nil {
							return // the daemon is gone
						}
						mu.Lock()
						acked[res.Key] = value
						n := len(acked)
						mu.Unlock()
						if n >= killAt {
							once.Do(func() { close(kill) })
						}
					}
				})
			}
			select {
			case <-kill:
			case <-ctx.Done():
				t.Fatalf("%d puts were not acknowledged in time:\n%s", killAt, d.output())
			}
			d.stopped = true // killed here, not stopped by the cleanup
			if err := d.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			<-d.exited
			wg.Wait() // every writer has seen the daemon go

			r := startProcess(t, "daemon", "--data-dir", dir)
			waitReady(t, ctx, r.stdout.lines, r.exited, r.output)
			c2 := control.NewClient(filepath.Join(dir, config.SocketFile))
			defer c2.Close()
			var lost []string
			for key, value := range acked {
				got, err := c2.Get(ctx, key)
				if err != nil || string(got.Value) != value {
					lost = append(lost, key)
				}
			}
			slices.Sort(lost)
			t.Logf("%s: %d puts acknowledged before SIGKILL, %d lost", engine, len(acked), len(lost))
			if len(lost) > 0 {
				t.Errorf("%d of %d acknowledged puts were lost to SIGKILL: %v", len(lost), len(acked), lost[:min(len(lost), 10)])
			}
			r.stop(t)
		})
	}
}
