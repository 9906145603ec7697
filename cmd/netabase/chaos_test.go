package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/netabase/netabase/internal/control"
)

// The chaos test's schedule: one fixed seed, so a failure can be run again.
const (
	chaosSeed     = 21
	chaosDaemons  = 4
	chaosWriters  = 3 // daemons 0 to 2 write; the last one only replicates
	chaosDuration = 60 * time.Second
	chaosMaxDown  = 2 // daemons killed at once, at most
	// chaosConverge bounds the convergence once every daemon is up: well
	// under the sync interval (a minute) and the DHT's refresh, so the
	// daemons must have dialled each other again themselves.
	chaosConverge = 30 * time.Second
)

// TestChaos runs four daemon processes on loopback, each with its default
// storage (pebble in its data directory), sharing a synced collection;
// daemons 1 to 3 bootstrap from daemon 0, which has no bootstrap peer.
// Writers put and remove values on three of them while a schedule drawn
// from a fixed seed kills daemons with SIGKILL, restarts them and cuts the
// connections between them (netabase disconnect). Then, with every daemon
// up again, within chaosConverge, every acknowledged write is on every
// daemon (an acknowledged put's value, unless the key was removed since; no
// acknowledged removal's value) and every fingerprint is the same.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four daemon processes for over a minute")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	rng := rand.New(rand.NewPCG(chaosSeed, chaosSeed))
	ds := make([]*chaosDaemon, chaosDaemons)
	for i := range ds {
		ds[i] = &chaosDaemon{i: i, dir: shortDir(t), port: freePort(t), ready: make(chan struct{})}
		if i > 0 {
			ds[i].bootstrap = ds[0].addr
		}
		ds[i].start(t, ctx)
		if _, _, err := ds[i].cli(ctx, "sync", "join", "chaos"); err != nil {
			t.Fatalf("daemon %d: %v", i, err)
		}
	}

	writeCtx, stopWriting := context.WithCancel(ctx)
	writers := make([]*chaosWriter, chaosWriters)
	var wg sync.WaitGroup
	for i := range writers {
		writers[i] = &chaosWriter{d: ds[i], rng: rand.New(rand.NewPCG(chaosSeed, uint64(i+1))), keys: map[string]keyState{}}
		wg.Go(func() { writers[i].run(writeCtx) })
	}

	var kills, restarts, cuts int
	end := time.After(chaosDuration)
chaos:
	for {
		select {
		case <-end:
			break chaos
		case <-ctx.Done():
			t.Fatal("the chaos phase outlived the test's deadline")
		case <-time.After(time.Duration(300+rng.IntN(1200)) * time.Millisecond): // the schedule's pace
		}
		var up, down []*chaosDaemon
		for _, d := range ds {
			if d.isUp() {
				up = append(up, d)
			} else {
				down = append(down, d)
			}
		}
		switch r := rng.IntN(10); {
		case len(down) > 0 && r < 4:
			down[rng.IntN(len(down))].start(t, ctx)
			restarts++
		case len(down) < chaosMaxDown && r < 7:
			up[rng.IntN(len(up))].kill(t)
			kills++
		case len(up) >= 2:
			a := rng.IntN(len(up))
			b := (a + 1 + rng.IntN(len(up)-1)) % len(up)
			// Not connected at that moment is an answer too; only the
			// connections closed count.
			if _, _, err := up[a].cli(ctx, "disconnect", up[b].id); err == nil {
				cuts++
			}
		}
	}
	stopWriting()
	wg.Wait()
	for _, d := range ds {
		if !d.isUp() {
			d.start(t, ctx)
			restarts++
		}
	}
	acked := 0
	for _, w := range writers {
		acked += w.acked
	}
	t.Logf("seed %d: %d acknowledged writes, %d kills, %d restarts, %d cut connections", chaosSeed, acked, kills, restarts, cuts)
	if acked == 0 || kills == 0 || cuts == 0 {
		t.Fatalf("the schedule did too little to test anything")
	}

	// Every daemon converges on the same set, holding every acknowledged
	// write.
	healed := time.Now()
	convergeCtx, cancelConverge := context.WithTimeout(ctx, chaosConverge)
	defer cancelConverge()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		problems := chaosCheck(ctx, ds, writers)
		if len(problems) == 0 {
			t.Logf("converged %v after every daemon was up", time.Since(healed).Round(time.Millisecond))
			return
		}
		select {
		case <-convergeCtx.Done():
			for _, p := range problems[:min(len(problems), 20)] {
				t.Error(p)
			}
			for _, d := range ds {
				out := d.p.output()
				t.Logf("daemon %d (%s), the end of its output:\n%s", d.i, d.id, out[max(0, len(out)-4000):])
			}
			t.Fatalf("the daemons did not converge within %v (%d problems)", chaosConverge, len(problems))
		case <-tick.C:
		}
	}
}

// chaosCheck lists what keeps the daemons from having converged: unequal
// fingerprints, or an acknowledged write missing on a daemon.
func chaosCheck(ctx context.Context, ds []*chaosDaemon, writers []*chaosWriter) []string {
	var problems []string
	fingerprints := map[string]bool{}
	for _, d := range ds {
		out, errOut, err := d.cli(ctx, "sync", "status", "chaos", "--json")
		var st control.SyncStatus
		if err == nil {
			err = json.Unmarshal([]byte(out), &st)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("daemon %d: sync status: %v %s", d.i, err, errOut))
			continue
		}
		fingerprints[st.Fingerprint] = true
		out, errOut, err = d.cli(ctx, "sync", "list", "chaos", "--json")
		var recs []control.SyncRecord
		if err == nil {
			err = json.Unmarshal([]byte(out), &recs)
		}
		if err != nil {
			problems = append(problems, fmt.Sprintf("daemon %d: sync list: %v %s", d.i, err, errOut))
			continue
		}
		held := map[string]string{} // writer/key → value
		for _, r := range recs {
			held[r.Writer+"/"+r.Key] = string(r.Value)
		}
		for _, w := range writers {
			for key, ks := range w.keys {
				v, ok := held[w.d.id+"/"+key]
				switch {
				case ks.state == keyPut && (!ok || v != ks.value):
					problems = append(problems, fmt.Sprintf("daemon %d lacks daemon %d's acknowledged put of %s (holds %q, %v)", d.i, w.d.i, key, v, ok))
				case ks.state == keyRemoved && ok:
					problems = append(problems, fmt.Sprintf("daemon %d holds %s of daemon %d, whose removal was acknowledged", d.i, key, w.d.i))
				}
			}
		}
	}
	if len(fingerprints) > 1 {
		problems = append(problems, fmt.Sprintf("%d different fingerprints", len(fingerprints)))
	}
	return problems
}

// chaosDaemon is one daemon of the chaos test, across its restarts.
type chaosDaemon struct {
	i         int
	dir       string
	port      int
	bootstrap string
	id, addr  string

	mu    sync.Mutex
	p     *process
	ready chan struct{} // closed while the daemon is up; replaced when it goes down
}

// start starts the daemon on its data directory and port, and waits until
// it is ready.
func (d *chaosDaemon) start(t *testing.T, ctx context.Context) {
	t.Helper()
	args := []string{"daemon", "--data-dir", d.dir, "--listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", d.port), "--no-mdns"}
	if d.bootstrap != "" {
		args = append(args, "--bootstrap", d.bootstrap)
	}
	p := startProcess(t, args...)
	addr := waitReady(t, ctx, p.stdout.lines, p.exited, p.output)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.p, d.addr = p, addr
	d.id = addr[strings.LastIndex(addr, "/p2p/")+len("/p2p/"):]
	close(d.ready)
}

// kill ends the daemon with SIGKILL and waits for it to exit.
func (d *chaosDaemon) kill(t *testing.T) {
	t.Helper()
	d.mu.Lock()
	p := d.p
	d.ready = make(chan struct{})
	d.mu.Unlock()
	p.stopped = true
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.exited
}

func (d *chaosDaemon) isUp() bool {
	select {
	case <-d.upSince():
		return true
	default:
		return false
	}
}

// upSince returns a channel that is closed while the daemon is up.
func (d *chaosDaemon) upSince() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ready
}

// cli runs a client command against the daemon in-process.
func (d *chaosDaemon) cli(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	code, out, errOut := runIn(ctx, nil, append(args, "--data-dir", d.dir)...)
	if code != 0 {
		return out, errOut, fmt.Errorf("netabase %s: exit %d: %s", strings.Join(args, " "), code, strings.TrimSpace(errOut))
	}
	return out, errOut, nil
}

type keyState struct {
	state int // keyPut, keyRemoved, or keyUnknown: the last write was not acknowledged
	value string
}

const (
	keyUnknown = iota
	keyPut
	keyRemoved
)

// chaosWriter puts new keys and removes written ones on one daemon. Each
// key is put once and removed at most once, so what a key must hold at the
// end follows from its last acknowledged write alone.
type chaosWriter struct {
	d     *chaosDaemon
	rng   *rand.Rand
	keys  map[string]keyState
	live  []string // keys put and not removed
	acked int
}

func (w *chaosWriter) run(ctx context.Context) {
	for seq := 0; ctx.Err() == nil; seq++ {
		select {
		case <-w.d.upSince():
		case <-ctx.Done():
			return
		}
		var key string
		var ks keyState
		var err error
		if len(w.live) > 0 && w.rng.IntN(4) == 0 {
			i := w.rng.IntN(len(w.live))
			key = w.live[i]
			w.live = append(w.live[:i], w.live[i+1:]...)
			ks = keyState{state: keyRemoved}
			_, _, err = w.d.cli(ctx, "sync", "rm", "chaos", key)
		} else {
			key = fmt.Sprintf("k%d-%d", w.d.i, seq)
			ks = keyState{state: keyPut, value: fmt.Sprintf("value %d of daemon %d", seq, w.d.i)}
			w.live = append(w.live, key)
			_, _, err = w.d.cli(ctx, "sync", "put", "chaos", key, ks.value)
		}
		if err != nil {
			// Not acknowledged: the write may or may not have happened.
			ks = keyState{state: keyUnknown}
		} else {
			w.acked++
		}
		w.keys[key] = ks
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago: a
// daemon keeps its port across restarts, as one configured would.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
