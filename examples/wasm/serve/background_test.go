package main

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"
)

// intensiveThrottling is the Chromium feature that wakes the timers of a
// page hidden for a grace period (five minutes by default) once a minute;
// browser turns it on with a grace period of one second, so that a test
// sees a hidden page's timers as a background tab's are after five
// minutes.
const intensiveThrottling = "IntensiveWakeUpThrottling:grace_period_seconds/1"

// timerProbe, evaluated in the page, starts a chain of 100 ms timers that
// notes when each one fires (window.timerProbe.ticks, the page's clock),
// as a page's own timers would fire, and a MutationObserver (which no
// timer drives) that notes when a message arrives (its text, by page
// clock) in window.timerProbe.arrived.
const timerProbe = `(() => {
	const p = window.timerProbe = {ticks: [performance.now()], arrived: {}};
	const tick = () => setTimeout(() => { p.ticks.push(performance.now()); tick(); }, 100);
	tick();
	new MutationObserver(() => {
		for (const li of document.querySelectorAll("#messages li[data-text]")) {
			const t = li.dataset.text;
			if (!(t in p.arrived)) p.arrived[t] = performance.now();
		}
	}).observe(document.getElementById("messages"), {childList: true, subtree: true});
	return true;
})()`

// probeState is what the probe found, and the page's state.
type probeState struct {
	Visibility string             `json:"visibility"`
	Now        float64            `json:"now"`
	Ticks      []float64          `json:"ticks"`
	Arrived    map[string]float64 `json:"arrived"`
	Sync       string             `json:"sync"`
}

func probe(t *testing.T, bctx context.Context) probeState {
	t.Helper()
	ctx, cancel := context.WithTimeout(bctx, stepTimeout)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify({visibility: document.visibilityState, now: performance.now(),
		ticks: window.timerProbe.ticks, arrived: window.timerProbe.arrived, sync: document.getElementById("sync").dataset.state})`))
	if err != nil {
		t.Fatalf("reading the page's timer probe: %v", err)
	}
	var st probeState
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		t.Fatalf("the page's timer probe: %v: %s", err, s)
	}
	return st
}

// longestGap is the longest wait between two of the probe's timers,
// the one under way included, in seconds.
func (st probeState) longestGap() float64 {
	gap := 0.0
	for i := 1; i < len(st.Ticks); i++ {
		gap = max(gap, st.Ticks[i]-st.Ticks[i-1])
	}
	if n := len(st.Ticks); n > 0 {
		gap = max(gap, st.Now-st.Ticks[n-1])
	}
	return gap / 1000
}

// ticksBetween counts the probe's timers that fired from a to b (page
// clock).
func (st probeState) ticksBetween(a, b float64) int {
	n := 0
	for _, x := range st.Ticks {
		if x >= a && x <= b {
			n++
		}
	}
	return n
}

// waitProbe polls the page (through the DevTools protocol, which no timer
// of the page drives) until cond holds of its probe, within timeout.
func waitProbe(t *testing.T, bctx context.Context, timeout time.Duration, what string, cond func(probeState) bool) probeState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		st := probe(t, bctx)
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; the page's probe: %+v", what, timeout, st)
		}
		select {
		case <-bctx.Done():
			t.Fatalf("%s: %v", what, bctx.Err())
		case <-tick.C:
		}
	}
}

// setWindow minimizes the page's window (hiding the page, as a tab in
// the background is) or makes it normal again.
func setWindow(t *testing.T, bctx context.Context, state cdpbrowser.WindowState) {
	t.Helper()
	w, err := chromedp.CallBrowser(bctx, cdpbrowser.GetWindowForTarget, cdpbrowser.GetWindowForTargetParams{TargetID: chromedp.FromContext(bctx).Target.TargetID})
	if err != nil {
		t.Fatalf("finding the page's window: %v", err)
	}
	if _, err := chromedp.CallBrowser(bctx, cdpbrowser.SetWindowBounds, cdpbrowser.SetWindowBoundsParams{WindowID: w.WindowID, Bounds: &cdpbrowser.Bounds{WindowState: state}}); err != nil {
		t.Fatalf("making the page's window %s: %v", state, err)
	}
}

// syncPage is the page self as the daemon's sync status lists it.
type syncPage struct {
	ID    string    `json:"id"`
	Since time.Time `json:"since"`
	Pongs int64     `json:"pongs"`
}

func (d *daemon) syncPage(t *testing.T, ctx context.Context, self string) (syncPage, bool) {
	t.Helper()
	var st struct {
		Pages []syncPage `json:"pages"`
	}
	if err := json.Unmarshal([]byte(d.cli(t, ctx, "sync", "status", "chat", "--json")), &st); err != nil {
		t.Fatalf("netabase sync status chat --json: %v", err)
	}
	for _, p := range st.Pages {
		if p.ID == self {
			return p, true
		}
	}
	return syncPage{}, false
}

// background hides the page, connected to d and chatting with term, as a
// tab in the background is, until the browser runs its timers once a
// minute (intensiveThrottling) and has run none for half a minute, and
// checks that it kept its
// connection, the same one, answering the daemon's keepalive pings; that
// a message the terminal wrote meanwhile reached it live, with none of its
// timers firing between the message's writing and its arrival; and that
// the page, shown again, is live.
func background(t *testing.T, ctx, bctx context.Context, d *daemon, term *chatProc, self string) {
	before, ok := d.syncPage(t, ctx, self)
	if !ok {
		t.Fatalf("the daemon's sync status does not list the page %s", self)
	}
	setWindow(t, bctx, cdpbrowser.WindowStateMinimized)
	if ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](timerProbe)); err != nil || !ok {
		t.Fatalf("starting the page's timer probe: %v", err)
	}
	if st := probe(t, bctx); st.Visibility != "hidden" {
		t.Fatalf("with its window minimized, the page is %q, want hidden", st.Visibility)
	}
	// Once a 100 ms timer is 5 s late, the browser throttles the page's
	// timers to once a minute: for the chat page, Chromium does so about a
	// minute after hiding it.
	hidden := time.Now()
	waitProbe(t, bctx, 3*time.Minute, "the page's timers, throttled", func(st probeState) bool { return st.longestGap() >= 5 })
	t.Logf("the hidden page's timers run once a minute %.0f s after it was hidden", time.Since(hidden).Seconds())

	// The terminal writes; the page takes the message live, with none of
	// its timers firing between. The minute's wake-up may fall on a
	// message's way; then another is written.
	live := false
	for i := 0; i < 3 && !live; i++ {
		text := "while the page is hidden, " + string(rune('a'+i))
		said := probe(t, bctx).Now
		term.say(t, text)
		st := waitProbe(t, bctx, 30*time.Second, "the terminal's message, on the hidden page", func(st probeState) bool { _, ok := st.Arrived[text]; return ok })
		arrived := st.Arrived[text]
		n := st.ticksBetween(said, arrived)
		t.Logf("the hidden page took %q %.2f s after it was written, %d of its timers firing between", text, (arrived-said)/1000, n)
		live = n == 0
	}
	if !live {
		t.Fatalf("three messages reached the hidden page each only after one of its timers fired: its live feed waits for timers")
	}
	// Half a minute with no timer, and one and a half hidden: the page's
	// connection stays, the one it had.
	st := waitProbe(t, bctx, 2*time.Minute, "30 s with none of the hidden page's timers firing", func(st probeState) bool { return st.longestGap() >= 30 })
	t.Logf("the hidden page's timers: %d fired in %.0f s, the longest wait %.0f s", len(st.Ticks), (st.Now-st.Ticks[0])/1000, st.longestGap())
	after, ok := d.syncPage(t, ctx, self)
	switch {
	case !ok:
		t.Fatalf("after %.0f s hidden, the daemon no longer lists the page %s", time.Since(hidden).Seconds(), self)
	case !after.Since.Equal(before.Since):
		t.Fatalf("after %.0f s hidden, the page is connected since %s, want the connection of %s: it reconnected", time.Since(hidden).Seconds(), after.Since, before.Since)
	case after.Pongs < before.Pongs+3:
		t.Fatalf("the page answered %d keepalive pings while hidden for %.0f s, want 3 or more (one each 15 s)", after.Pongs-before.Pongs, time.Since(hidden).Seconds())
	}
	t.Logf("the page answered %d of the daemon's keepalive pings while hidden", after.Pongs-before.Pongs)
	setWindow(t, bctx, cdpbrowser.WindowStateNormal)
	waitProbe(t, bctx, stepTimeout, "the page, shown again and live", func(st probeState) bool { return st.Visibility == "visible" && st.Sync == "live" })
}
