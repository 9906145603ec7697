package replica

import (
	"context"
	"iter"
	"sync"
	"sync/atomic"
)

// watchBuffer is how many changes a watcher may fall behind before it
// loses some.
const watchBuffer = 1024

// hub hands changes to watchers without ever blocking the writer.
type hub struct {
	mu   sync.Mutex
	subs map[*watcher]struct{}
}

type watcher struct {
	ch   chan Change
	lost atomic.Int64
}

func (h *hub) send(c Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.subs {
		select {
		case w.ch <- c:
		default:
			w.lost.Add(1)
		}
	}
}

func (h *hub) subscribe(ctx context.Context) iter.Seq[Change] {
	w := &watcher{ch: make(chan Change, watchBuffer)}
	h.mu.Lock()
	if h.subs == nil {
		h.subs = make(map[*watcher]struct{})
	}
	h.subs[w] = struct{}{}
	h.mu.Unlock()
	return func(yield func(Change) bool) {
		defer func() {
			h.mu.Lock()
			delete(h.subs, w)
			h.mu.Unlock()
		}()
		for {
			select {
			case <-ctx.Done():
				return
			case c := <-w.ch:
				if !yield(c) {
					return
				}
			}
		}
	}
}
