package sdktest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ds "github.com/ipfs/go-datastore"

	"github.com/netabase/netabase/core"
	"github.com/netabase/netabase/plugins/host"
)

// Bounds of the crash test. A call that takes longer than callTimeout has
// hung; a call failing while the plugin is down must fail within failFast.
const (
	crashWriters = 4
	callTimeout  = 20 * time.Second
	failFast     = 5 * time.Second
	eventTimeout = time.Minute
	// Before the kill the synced writes number at least syncedBefore; after
	// the restart, syncs add at least syncedAfter more.
	syncedBefore = 200
	syncedAfter  = 100
)

// syncDone reports a successful Sync: when it started and how many writes
// it covers.
type syncDone struct {
	start  time.Time
	writes int64
}

func crashKey(w, i int) ds.Key { return ds.NewKey(fmt.Sprintf("/crash/w%d/%08d", w, i)) }

func crashValue(w, i int) []byte { return bytes.Repeat(fmt.Appendf(nil, "w%d-%08d;", w, i), 16) }

// Crash opens a scratch store of the plugin u names, SIGKILLs the plugin
// process in the middle of a concurrent load of puts, batches and syncs,
// and checks that calls fail fast while it is down, that the host restarts
// it and calls succeed again, and that every write acknowledged before a
// successful Sync survived.
func Crash(t *testing.T, u *url.URL) {
	events := make(chan host.Event, 256)
	d := host.NewDriver(host.Config{
		Logger:  TestLogger(t),
		OnState: func(e host.Event) { events <- e },
		Backoff: host.Backoff{Initial: 50 * time.Millisecond, Max: time.Second},
	})
	su, err := d.Scratch(u, ScratchDir(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	b, err := core.OpenURL(ctx, d, su)
	if err != nil {
		t.Fatalf("opening a scratch store: %v", err)
	}
	defer func() {
		if err := b.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		next(t, events, host.Stopped)
	}()
	first := next(t, events, host.Up)

	var (
		acked     [crashWriters]atomic.Int64 // the last index each writer had acknowledged
		synced    [crashWriters]int64        // what the last successful Sync covers; the syncer's
		lossLo    [crashWriters]int64        // writes the host said may be lost: lossLo..lossHi
		lossHi    [crashWriters]int64
		lossSaid  atomic.Bool
		downErrs  atomic.Int64
		slowest   atomic.Int64 // the longest failing call, in ns
		stop      = make(chan struct{})
		restarted = make(chan struct{})
		syncs     = make(chan syncDone, 1024)
		failures  = make(chan error, crashWriters+1)
		wg        sync.WaitGroup
	)
	for w := range crashWriters {
		acked[w].Store(-1)
		synced[w], lossLo[w], lossHi[w] = -1, math.MaxInt64, -1
	}
	// failed sorts out a call's error: the plugin being down is expected
	// (then it waits for the restart); anything else fails the test.
	failed := func(what string, took time.Duration, err error) bool {
		if took > time.Duration(slowest.Load()) {
			slowest.Store(int64(took))
		}
		if !errors.Is(err, host.ErrPluginDown) {
			failures <- fmt.Errorf("%s failed after %s with an error that does not say the plugin is down: %w", what, took.Round(time.Millisecond), err)
			return false
		}
		downErrs.Add(1)
		select {
		case <-restarted:
		case <-stop:
		}
		return true
	}
	for w := range crashWriters {
		wg.Go(func() {
			for i := 0; ; {
				select {
				case <-stop:
					return
				default:
				}
				n := 1
				if (i/10)%2 == 1 {
					n = 5
				}
				start := time.Now()
				cctx, ccancel := context.WithTimeout(ctx, callTimeout)
				err := write(cctx, b, w, i, n)
				ccancel()
				if err == nil {
					i += n
					acked[w].Store(int64(i - 1))
					continue
				}
				if !failed(fmt.Sprintf("writing %s", crashKey(w, i)), time.Since(start), err) {
					return
				}
			}
		})
	}
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			var snap [crashWriters]int64
			for w := range crashWriters {
				snap[w] = acked[w].Load()
			}
			start := time.Now()
			cctx, ccancel := context.WithTimeout(ctx, callTimeout)
			err := b.Sync(cctx, ds.NewKey("/"))
			ccancel()
			if errors.Is(err, host.ErrWritesLost) {
				// The writes acknowledged since the last successful Sync
				// and before this one may be gone; the test does not count
				// on them.
				for w := range crashWriters {
					lossLo[w] = min(lossLo[w], synced[w]+1)
					lossHi[w] = max(lossHi[w], acked[w].Load())
				}
				lossSaid.Store(true)
				continue
			}
			if err != nil {
				if !failed("Sync", time.Since(start), err) {
					return
				}
				continue
			}
			synced = snap
			total := int64(0)
			for _, n := range snap {
				total += n + 1
			}
			select {
			case syncs <- syncDone{start, total}:
			default:
			}
		}
	})
	stopped := false
	halt := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer halt()

	before := awaitSyncs(t, syncs, failures, time.Time{}, syncedBefore)
	if err := syscall.Kill(first.PID, syscall.SIGKILL); err != nil {
		t.Fatalf("killing the plugin (pid %d): %v", first.PID, err)
	}
	down := next(t, events, host.Down)
	if down.PID != first.PID || !errors.Is(down.Err, host.ErrPluginDown) {
		t.Fatalf("after SIGKILL of pid %d the host reported %+v", first.PID, down)
	}
	again := next(t, events, host.Up)
	if again.PID == first.PID || again.PID == 0 {
		t.Fatalf("the host reports the plugin up as pid %d after pid %d died", again.PID, first.PID)
	}
	close(restarted)
	awaitSyncs(t, syncs, failures, again.Time, before+syncedAfter)
	halt()
	close(failures)
	for err := range failures {
		t.Error(err)
	}
	if downErrs.Load() == 0 {
		t.Errorf("no call failed while the plugin was down; the test did not catch the crash")
	}
	if took := time.Duration(slowest.Load()); took > failFast {
		t.Errorf("a call took %s to fail while the plugin was down; it must fail fast (within %s)", took, failFast)
	}

	var lost []string
	total, mayLose, didLose := 0, 0, 0
	for w := range crashWriters {
		for i := 0; i <= int(synced[w]); i++ {
			if int64(i) >= lossLo[w] && int64(i) <= lossHi[w] {
				mayLose++
				if _, err := b.Get(ctx, crashKey(w, i)); err != nil {
					didLose++
				}
				continue
			}
			total++
			v, err := b.Get(ctx, crashKey(w, i))
			if err != nil || !bytes.Equal(v, crashValue(w, i)) {
				lost = append(lost, fmt.Sprintf("%s (%v)", crashKey(w, i), err))
			}
		}
	}
	if len(lost) > 0 {
		t.Fatalf("%d of %d writes acknowledged before a successful Sync were lost when the plugin was killed, such as %s", len(lost), total, lost[0])
	}
	t.Logf("pid %d killed, pid %d took over; %d calls failed fast (slowest %s); all %d synced writes survived; of %d writes acknowledged but not synced at the crash (reported: %v), %d were lost",
		first.PID, again.PID, downErrs.Load(), time.Duration(slowest.Load()).Round(time.Microsecond), total, mayLose, lossSaid.Load(), didLose)
}

// write puts n consecutive keys of writer w from i: one Put, or a batch.
func write(ctx context.Context, b ds.Batching, w, i, n int) error {
	if n == 1 {
		return b.Put(ctx, crashKey(w, i), crashValue(w, i))
	}
	bt, err := b.Batch(ctx)
	if err != nil {
		return err
	}
	for j := i; j < i+n; j++ {
		if err := bt.Put(ctx, crashKey(w, j), crashValue(w, j)); err != nil {
			return err
		}
	}
	return bt.Commit(ctx)
}

// awaitSyncs waits for a successful Sync that started after since and
// covers at least n writes, and returns how many it covers.
func awaitSyncs(t *testing.T, syncs <-chan syncDone, failures <-chan error, since time.Time, n int64) int64 {
	t.Helper()
	timeout := time.NewTimer(eventTimeout)
	defer timeout.Stop()
	for {
		select {
		case s := <-syncs:
			if s.start.After(since) && s.writes >= n {
				return s.writes
			}
		case err := <-failures:
			t.Fatal(err)
		case <-timeout.C:
			t.Fatalf("the store made too little progress in %s: no Sync covered %d writes", eventTimeout, n)
		}
	}
}

// next returns the next event, which must have state want.
func next(t *testing.T, events <-chan host.Event, want host.State) host.Event {
	t.Helper()
	timeout := time.NewTimer(eventTimeout)
	defer timeout.Stop()
	for {
		select {
		case e := <-events:
			if e.State == want {
				return e
			}
			if e.State == host.Restarting || (want == host.Up && e.State == host.Down) {
				continue
			}
			t.Fatalf("waiting for the plugin to be %s, the host reported %s (%v)", want, e.State, e.Err)
		case <-timeout.C:
			t.Fatalf("the host did not report the plugin %s within %s", want, eventTimeout)
		}
	}
}
