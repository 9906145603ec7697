//go:build !(js && wasm)

package page_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/netabase/netabase/core/gateway"
	gc "github.com/netabase/netabase/core/gateway/gatewayclient"
	"github.com/netabase/netabase/core/node"
	"github.com/netabase/netabase/core/page"
	"github.com/netabase/netabase/core/replica"
)

// These benchmarks measure a page's protocol path (core/page over
// wsync, natively, on loopback) against a daemon's own, side by side in
// one run. BENCHMARKS.md keeps their figures and the command.

// benchContext bounds a benchmark: longer than a test's, for filling a
// collection of joinRecords and the iterations.
func benchContext(b testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(b.Context(), 8*time.Minute)
	b.Cleanup(cancel)
	return ctx
}

// meshed connects db to da and waits until each lists the other among
// the collection's topic peers, so that a write gossips at once.
func meshed(b testing.TB, da, db *daemon, sa, sb *node.Synced) {
	b.Helper()
	ctx := benchContext(b)
	if err := db.n.Connect(ctx, peer.AddrInfo{ID: da.n.ID(), Addrs: da.n.Addrs()}); err != nil {
		b.Fatal(err)
	}
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for !slices.Contains(sa.TopicPeers(), db.n.ID()) || !slices.Contains(sb.TopicPeers(), da.n.ID()) {
		select {
		case <-ctx.Done():
			b.Fatal("the daemons never shared the collection's topic")
		case <-t.C:
		}
	}
}

// arrivals yields the changes of r from now on (a key, or how many
// went by unseen).
func arrivals(ctx context.Context, r *replica.Replica) <-chan replica.Change {
	ch := make(chan replica.Change, 1024)
	w := r.Watch(ctx)
	go func() {
		for c := range w {
			select {
			case ch <- c:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch
}

// percentiles returns the p50 and p95 of ds.
func percentiles(ds []time.Duration) (p50, p95 time.Duration) {
	slices.Sort(ds)
	return ds[len(ds)/2], ds[len(ds)*95/100]
}

// BenchmarkWriteReachesSecondDaemon: a write until a second daemon holds
// it, timed by a watch on that daemon: the page's (over the WebSocket to
// daemon A, which admits and gossips it to B), against daemon A's own
// put (node.Synced.Put, gossiped to B), the baseline; an op is one of
// each. It reports the p50 and p95 of each, and the page's over the
// daemon's.
func BenchmarkWriteReachesSecondDaemon(b *testing.B) {
	ctx := benchContext(b)
	settings := replica.Settings{Name: "bench"}
	// Rates high enough that the page's writes are never refused.
	da := startDaemon(b, gateway.Options{SyncRecordsPerSecond: 1e6, SyncBytesPerSecond: 1 << 30})
	db := startDaemon(b, gateway.Options{})
	sa, sb := da.join(b, settings), db.join(b, settings)
	meshed(b, da, db, sa, sb)
	p := openPage(b, memory(b), nil)
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{da.url("bench")}, Interval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	if got, err := s.CaughtUp(ctx, 20*time.Second); err != nil || len(got) != 1 {
		b.Fatalf("the page did not reach daemon A: %v, %v", got, err)
	}
	at := arrivals(ctx, sb.Replica())
	value := make([]byte, 100)
	write := func(key string, put func() error) time.Duration {
		start := time.Now()
		if err := put(); err != nil {
			b.Fatal(err)
		}
		for c := range at {
			if c.Missed > 0 {
				b.Fatal("the watch on daemon B missed changes")
			}
			if c.Key == key {
				break
			}
		}
		return time.Since(start)
	}
	// Each iteration times one write of each, in turn first, so that
	// both see the same machine and the same daemons.
	var byDaemon, byPage []time.Duration
	i := 0
	for b.Loop() {
		i++
		dk, pk := fmt.Sprintf("daemon-%d", i), fmt.Sprintf("page-%d", i)
		daemonPut := func() error { _, err := sa.Put(ctx, dk, value); return err }
		pagePut := func() error { _, err := s.Put(ctx, pk, value); return err }
		if i%2 == 0 {
			byDaemon = append(byDaemon, write(dk, daemonPut))
			byPage = append(byPage, write(pk, pagePut))
		} else {
			byPage = append(byPage, write(pk, pagePut))
			byDaemon = append(byDaemon, write(dk, daemonPut))
		}
	}
	d50, d95 := percentiles(byDaemon)
	p50, p95 := percentiles(byPage)
	b.ReportMetric(float64(d50.Microseconds()), "daemon-p50-µs")
	b.ReportMetric(float64(d95.Microseconds()), "daemon-p95-µs")
	b.ReportMetric(float64(p50.Microseconds()), "page-p50-µs")
	b.ReportMetric(float64(p95.Microseconds()), "page-p95-µs")
	b.ReportMetric(float64(p50)/float64(d50), "p50-ratio")
	b.ReportMetric(float64(p95)/float64(d95), "p95-ratio")
}

// joined waits until r holds want records, reading changes from w, a
// watch of r started before it got any of them or with held of them
// then; failed ends with what fills r.
func joined(ctx context.Context, b *testing.B, r *replica.Replica, w <-chan replica.Change, held, want int, failed <-chan error) {
	n := held
	for n < want || r.Status().Records < want {
		select {
		case c := <-w:
			n += max(1, int(c.Missed))
		case err := <-failed:
			b.Fatalf("following the stream: %v", err)
		case <-ctx.Done():
			b.Fatalf("holds %d records of %d", r.Status().Records, want)
		}
	}
}

// joinRecords is the size of the collection a fresh page joins.
const joinRecords = 10_000

// fill writes n records of 100 bytes on s.
func fill(b testing.TB, s *node.Synced, n int) {
	ctx := benchContext(b)
	value := make([]byte, 100)
	for i := range n {
		if _, err := s.Put(ctx, fmt.Sprintf("k%05d", i), value); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJoin: a fresh page joins a collection of 10,000 records of
// 100 bytes on its daemon, until it holds them all, by reconciliation
// over the WebSocket, in each protocol version; against the baseline of
// the gateway's event-stream replay (gatewayclient.Follow) into a fresh
// replica of the same kind of store. An op is one join of each path, in
// an order that turns each op, so that the paths share the machine's
// load alike. It reports, per path, the time until the replica held every
// record (ms/join-<path>) and the bytes the gateway read and wrote (TCP
// payload: HTTP and WebSocket framing included) per join, the page's
// rounds, and the page's time and bytes (both ways) over the replay's.
func BenchmarkJoin(b *testing.B) {
	ctx := benchContext(b)
	settings := replica.Settings{Name: "bench"}
	d := startDaemon(b, gateway.Options{})
	ds := d.join(b, settings)
	fill(b, ds, joinRecords)
	normal, err := settings.Normalize()
	if err != nil {
		b.Fatal(err)
	}
	c, err := gc.New(d.srv.URL, nil)
	if err != nil {
		b.Fatal(err)
	}
	// Each path returns how long it took until the replica held every
	// record, and the page's rounds (0 for the stream).
	follow := func() (time.Duration, int) {
		r, err := replica.Open(ctx, memory(b), normal)
		if err != nil {
			b.Fatal(err)
		}
		fctx, cancel := context.WithCancel(ctx)
		defer cancel()
		w := arrivals(fctx, r)
		done := make(chan error, 1)
		cursors := memory(b)
		start := time.Now()
		go func() { done <- gc.Follow(fctx, c, r, cursors, nil) }()
		joined(fctx, b, r, w, 0, joinRecords, done)
		took := time.Since(start)
		cancel()
		<-done
		return took, 0
	}
	type path struct {
		name    string
		join    func() (time.Duration, int)
		took    time.Duration
		rounds  int
		in, out int64
	}
	paths := []*path{{name: "follow", join: follow}}
	// The page's session in each reconciliation protocol version, the
	// newest (what a page speaks) first.
	for _, v := range replica.Versions {
		paths = append(paths, &path{name: fmt.Sprintf("page-v%d", v), join: func() (time.Duration, int) { return joinPage(b, ctx, d, settings, v) }})
	}
	turn := 0
	for b.Loop() {
		for k := range paths {
			p := paths[(turn+k)%len(paths)]
			r0, w0 := d.traffic()
			t, n := p.join()
			r1, w1 := d.traffic()
			p.took += t
			p.rounds += n
			p.in, p.out = p.in+r1-r0, p.out+w1-w0
		}
		turn++
	}
	per := func(x int64) float64 { return float64(x) / float64(b.N) }
	for _, p := range paths {
		b.ReportMetric(per(p.in), "bytes-to-daemon-"+p.name+"/op")
		b.ReportMetric(per(p.out), "bytes-from-daemon-"+p.name+"/op")
		b.ReportMetric(float64(p.took.Milliseconds())/float64(b.N), "ms/join-"+p.name)
		if p.rounds > 0 {
			b.ReportMetric(float64(p.rounds)/float64(b.N), "rounds-"+p.name+"/op")
		}
		if p != paths[0] {
			b.ReportMetric(float64(p.took)/float64(paths[0].took), "time-ratio-"+p.name)
			b.ReportMetric(float64(p.in+p.out)/float64(paths[0].in+paths[0].out), "bytes-ratio-"+p.name)
		}
	}
}

// joinPage is BenchmarkJoin's page: a fresh page that joins the daemon's
// collection by sessions of version v. It returns how long it took until
// the page held every record, and the page's rounds.
func joinPage(b *testing.B, ctx context.Context, d *daemon, settings replica.Settings, v replica.Version) (time.Duration, int) {
	p, err := page.Open(ctx, memory(b), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("bench")}, Interval: time.Hour, Versions: []replica.Version{v}})
	if err != nil {
		b.Fatal(err)
	}
	jctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := arrivals(jctx, s.Replica())
	joined(jctx, b, s.Replica(), w, s.Replica().Status().Records, joinRecords, nil)
	took := time.Since(start)
	// The session may still be ending: its rounds are those of the
	// page's figures once CaughtUp saw it end.
	if _, err := s.CaughtUp(ctx, 20*time.Second); err != nil {
		b.Fatal(err)
	}
	return took, s.Replica().Status().Peers[d.n.ID()].Total.Rounds
}

// BenchmarkSettle: a page whose replica equals its daemon's (10,000
// records) connects again; the session on connecting finds them equal.
// It reports the bytes each way, of the session's frames (as the page's
// replica counts them) and of the whole connection as TCP carries it
// (the handshake and hellos included), and the page's rounds.
func BenchmarkSettle(b *testing.B) {
	ctx := benchContext(b)
	settings := replica.Settings{Name: "bench"}
	d := startDaemon(b, gateway.Options{})
	ds := d.join(b, settings)
	fill(b, ds, joinRecords)
	store := memory(b)
	connect := func() (*page.Page, *page.Synced) {
		p, err := page.Open(ctx, store, nil)
		if err != nil {
			b.Fatal(err)
		}
		s, err := p.JoinSync(ctx, settings, page.SyncOptions{Daemons: []string{d.url("bench")}, Interval: time.Hour})
		if err != nil {
			b.Fatal(err)
		}
		if got, err := s.CaughtUp(ctx, 20*time.Second); err != nil || len(got) != 1 {
			b.Fatalf("the page did not catch up: %v, %v", got, err)
		}
		return p, s
	}
	p, s := connect()
	st := s.Replica().Status()
	if st.Records != joinRecords {
		b.Fatalf("the page holds %d records", st.Records)
	}
	prev := st.Peers[d.n.ID()].Total
	p.Close()
	var sum replica.Stats
	var tcpIn, tcpOut int64
	for b.Loop() {
		r0, w0 := d.traffic()
		p, s := connect()
		r1, w1 := d.traffic()
		st := s.Replica().Status()
		p.Close()
		if st.Records != joinRecords || st.Peers[d.n.ID()].Sessions == 0 {
			b.Fatalf("the page holds %d records, %+v", st.Records, st.Peers)
		}
		// The page's replica keeps its figures across joins: the
		// session's are the totals' growth.
		t := st.Peers[d.n.ID()].Total
		sum.BytesSent += t.BytesSent - prev.BytesSent
		sum.BytesReceived += t.BytesReceived - prev.BytesReceived
		sum.Rounds += t.Rounds - prev.Rounds
		sum.RecordsSent += t.RecordsSent - prev.RecordsSent
		sum.RecordsReceived += t.RecordsReceived - prev.RecordsReceived
		prev = t
		tcpIn, tcpOut = tcpIn+r1-r0, tcpOut+w1-w0
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.BytesSent)/n, "frame-bytes-to-daemon/op")
	b.ReportMetric(float64(sum.BytesReceived)/n, "frame-bytes-from-daemon/op")
	b.ReportMetric(float64(sum.Rounds)/n, "page-rounds/op")
	b.ReportMetric(float64(sum.RecordsSent+sum.RecordsReceived)/n, "records/op")
	b.ReportMetric(float64(tcpIn)/n, "tcp-bytes-to-daemon/op")
	b.ReportMetric(float64(tcpOut)/n, "tcp-bytes-from-daemon/op")
}
