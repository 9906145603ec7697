package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/p2p/muxer/yamux"
	"github.com/libp2p/go-libp2p/p2p/security/noise"
	"github.com/libp2p/go-libp2p/p2p/transport/tcp"
	"github.com/multiformats/go-multiaddr"

	"github.com/netabase/netabase/core/config"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/replica"
)

// Bounds of TestSyncMemoryUnderStalledFrames.
const (
	stalledStreams = 1000
	rssBoundMiB    = 64
	honestDelay    = 2 * time.Second
	sendPace       = 20 * time.Millisecond
)

// TestSyncMemoryUnderStalledFrames: 1,000 reconciliation streams that each
// announce a frame of the largest size, send it slowly and stall before
// its last byte, from one identity and then from 1,000, raise the peak
// resident memory of a daemon process at most 64 MiB above its idle
// figure; meanwhile a value written on another daemon reaches it within 2
// seconds.
func TestSyncMemoryUnderStalledFrames(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// The first start runs the admission gate's suite, whose memory a
	// daemon keeps for a while: the daemons measured start on the
	// certificate it leaves.
	dirA := shortDir(t)
	first := startDaemonIn(t, ctx, dirA, "--storage", "memory://")
	first.cli(t, ctx, "sync", "join", "chat")
	first.shutdown(t)
	// libp2p's default bound on connections scales with the machine's
	// memory, and each connection costs memory of its own whatever it
	// carries: the bound is fixed here, so the figure does not depend on
	// the machine.
	cfgPath := filepath.Join(dirA, config.FileName)
	cfg, err := os.ReadFile(cfgPath)
	if err != nil || !bytes.Contains(cfg, []byte("max_connections = 0\n")) {
		t.Fatalf("the configuration has no max_connections = 0 (%v):\n%s", err, cfg)
	}
	if err := os.WriteFile(cfgPath, bytes.Replace(cfg, []byte("max_connections = 0\n"), []byte("max_connections = 256\n"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	cliA := func(args ...string) string {
		t.Helper()
		code, out, errOut := runIn(ctx, nil, append(args, "--data-dir", dirA)...)
		if code != 0 {
			t.Fatalf("netabase %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
		}
		return out
	}
	b := startDaemon(t, ctx, "--storage", "memory://")
	b.cli(t, ctx, "sync", "join", "chat")

	for i, identities := range []int{1, stalledStreams} {
		a := startProcess(t, "daemon", "--data-dir", dirA, "--storage", "memory://", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns")
		addrA := waitReady(t, ctx, a.stdout.lines, a.exited, a.output)
		b.cli(t, ctx, "connect", addrA)
		before := fmt.Sprint("before", i)
		b.cli(t, ctx, "sync", "put", "chat", before, "written before the attack")
		waitFor(t, ctx, func() string { return cliA("sync", "list", "chat") }, before)
		ai, err := peer.AddrInfoFromString(addrA)
		if err != nil {
			t.Fatal(err)
		}

		// The daemon's memory is its anonymous resident memory (its heap
		// and stacks), sampled: the pages of the binary's code that the
		// attack's code paths fault in are resident too, but they are
		// not memory a peer makes the daemon keep.
		pid := a.cmd.Process.Pid
		idle, err := procStatusKiB(pid, "RssAnon")
		if err != nil {
			t.Fatal(err)
		}
		attack := stallFrames(t, ctx, *ai, identities, stalledStreams, pid, idle+rssBoundMiB<<10)
		during := fmt.Sprint("during", i)
		b.cli(t, ctx, "sync", "put", "chat", during, "written during the attack")
		start := time.Now()
		waitFor(t, ctx, func() string { return cliA("sync", "list", "chat") }, during)
		if d := time.Since(start); d > honestDelay {
			t.Errorf("with %d identities attacking: an honest write took %s to arrive, more than %s", identities, d.Round(time.Millisecond), honestDelay)
		}
		attack.wait()
		peak := attack.peak.Load()
		t.Logf("%d identities: %d streams opened, %d sent all but the last byte of their frame; the daemon's RSS %.1f MiB idle, peak %.1f MiB", identities, attack.opened.Load(), attack.whole.Load(), mib(idle), mib(peak))
		if peak-idle > rssBoundMiB<<10 {
			t.Errorf("with %d identities attacking: the daemon's peak RSS is %.1f MiB above its idle %.1f MiB, more than %d (the attack stops at the bound)", identities, mib(peak-idle), mib(idle), rssBoundMiB)
		}
		if attack.opened.Load() == 0 {
			t.Errorf("with %d identities attacking: no stream opened", identities)
		}
		attack.stop()
		a.stop(t)
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// procStatusKiB reads a figure in kB from /proc/<pid>/status.
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// attack is the streams of stallFrames.
type attack struct {
	hosts   []host.Host
	writers sync.WaitGroup // until the streams end
	sending sync.WaitGroup // until they have sent what they will
	cancel  context.CancelFunc
	sampler chan struct{}
	opened  atomic.Int64
	whole   atomic.Int64 // streams that sent all but their frame's last byte
	peak    atomic.Int64 // the daemon's largest anonymous RSS, in KiB
}

// stallFrames opens that many reconciliation streams to a, from that
// many libp2p hosts with fresh keys in turn; each announces a frame of
// replica.MaxFrame bytes and sends all of it but the last byte, slowly (32
// KiB every sendPace), then stalls. It returns once every stream is opened or
// refused, with the writers still sending. Meanwhile it samples a's
// anonymous resident memory (process pid), and stops the attack as soon
// as it passes limitKiB, so that a daemon without its bounds does not take
// the machine's memory.
func stallFrames(t *testing.T, ctx context.Context, a peer.AddrInfo, identities, streams, pid int, limitKiB int64) *attack {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	at := &attack{cancel: cancel, sampler: make(chan struct{})}
	t.Cleanup(at.stop)
	for range identities {
		k, _, err := crypto.GenerateEd25519Key(nil)
		if err != nil {
			t.Fatal(err)
		}
		h, err := libp2p.New(libp2p.Identity(k), libp2p.NoListenAddrs,
			libp2p.Transport(tcp.NewTCPTransport), libp2p.Security(noise.ID, noise.New),
			libp2p.Muxer(yamux.ID, yamux.DefaultTransport), libp2p.ResourceManager(&network.NullResourceManager{}),
			libp2p.DisableRelay(), libp2p.DisableMetrics())
		if err != nil {
			t.Fatal(err)
		}
		at.hosts = append(at.hosts, h)
	}
	go func() {
		defer close(at.sampler)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			rss, err := procStatusKiB(pid, "RssAnon")
			if err != nil {
				t.Errorf("sampling the daemon's memory: %v", err)
				cancel()
				return
			}
			if rss > at.peak.Load() {
				at.peak.Store(rss)
			}
			if rss > limitKiB {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	header := binary.AppendUvarint(nil, replica.MaxFrame)
	chunk := make([]byte, 32<<10)
	opening := make(chan struct{}, 32)
	var opens sync.WaitGroup
	for i := range streams {
		h := at.hosts[i%identities]
		opening <- struct{}{}
		opens.Go(func() {
			defer func() { <-opening }()
			if err := h.Connect(ctx, peer.AddrInfo{ID: a.ID, Addrs: []multiaddr.Multiaddr{a.Addrs[0]}}); err != nil {
				return // refused: the daemon's connection bounds
			}
			st, err := h.NewStream(ctx, a.ID, node.SyncProtocol)
			if err != nil {
				return
			}
			at.opened.Add(1)
			at.sending.Add(1)
			at.writers.Go(func() {
				defer st.Reset()
				stop := context.AfterFunc(ctx, func() { _ = st.Reset() })
				defer stop()
				if send(ctx, st, header, chunk) {
					at.whole.Add(1)
				}
				at.sending.Done()
				<-ctx.Done()
			})
		})
	}
	opens.Wait()
	return at
}

// send writes header, then a chunk every sendPace up to all but the last
// byte of a frame of replica.MaxFrame bytes, and reports whether it got
// that far. A write the daemon leaves waiting for 5 seconds, because it no
// longer reads the stream, ends it too.
func send(ctx context.Context, st network.Stream, header, chunk []byte) bool {
	if _, err := st.Write(header); err != nil {
		return false
	}
	tick := time.NewTicker(sendPace)
	defer tick.Stop()
	for sent := 0; sent < replica.MaxFrame-1; {
		n := min(len(chunk), replica.MaxFrame-1-sent)
		_ = st.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if _, err := st.Write(chunk[:n]); err != nil {
			return false
		}
		sent += n
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// wait waits until every stream has sent what it will.
func (at *attack) wait() { at.sending.Wait() }

// stop ends the streams and closes the hosts.
func (at *attack) stop() {
	at.cancel()
	at.writers.Wait()
	<-at.sampler
	for _, h := range at.hosts {
		_ = h.Close()
	}
	at.hosts = nil
}
