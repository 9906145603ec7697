package replica

import (
	"context"
	"iter"
	"sync"
)

// watchBuffer is how many changes a watcher may fall behind before it
// misses some.
const watchBuffer = 1024

// hub hands changes to watchers without ever blocking the writer: a
// watcher whose buffer is full misses the change, and learns so, in
// order, once it has taken what its buffer held.
type hub struct {
	mu   sync.Mutex
	subs map[*watcher]struct{}
}

type watcher struct {
	ctx    context.Context // the watch's; it ends with it
	ch     chan delivery
	missed uint64 // changes missed since the last delivery; guarded by hub.mu
}

// delivery is a change and how many the watcher missed just before it,
// or, when none is set, only the changes missed.
type delivery struct {
	Change
	set    bool
	missed uint64
}

func (h *hub) send(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs {
		if w.ctx.Err() != nil {
			// Its watch ended; the goroutine that drops it may not
			// have run yet.
			delete(h.subs, w)
			continue
		}
		select {
		case w.ch <- delivery{c, true, w.missed}:
			w.missed = 0
		default:
			w.missed++
		}
	}
}

// next returns w's next delivery without waiting: a change, or, once the
// buffer is empty, the changes missed after it; ok is false when there
// is neither.
func (h *hub) next(w *watcher) (d delivery, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	select {
	case d = <-w.ch:
		return d, true
	default:
	}
	if w.missed > 0 {
		d.missed, w.missed = w.missed, 0
		return d, true
	}
	return d, false
}

func (h *hub) subscribe(ctx context.Context) iter.Seq[Change] {
	w := &watcher{ctx: ctx, ch: make(chan delivery, watchBuffer)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[*watcher]struct{})
	}
	h.subs[w] = struct{}{}
	h.mu.Unlock()
	drop := func() {
		h.mu.Lock()
		delete(h.subs, w)
		h.mu.Unlock()
	}
	// The watcher goes when ctx ends, whether or not the sequence is
	// ever iterated, or iterated to its end.
	stop := context.AfterFunc(ctx, drop)
	return func(yield func(Change) bool) {
		defer func() {
			stop()
			drop()
		}()
		for {
			d, ok := h.next(w)
			if !ok {
				// Nothing is missed while the buffer has room, so the
				// next delivery is a change.
				select {
				case <-ctx.Done():
					return
				case d = <-w.ch:
				}
			}
			if ctx.Err() != nil {
				return
			}
			if d.missed > 0 && !yield(Change{Missed: d.missed}) {
				return
			}
			if d.set && !yield(d.Change) {
				return
			}
		}
	}
}
