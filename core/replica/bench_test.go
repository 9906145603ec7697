package replica

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

// catchUpN is the replica size of the catch-up benchmark.
const catchUpN = 100_000

var (
	catchUpOnce    sync.Once
	catchUpRecords []Verified // catchUpN common records, then 1,000 more
)

func catchUpData(b *testing.B) []Verified {
	catchUpOnce.Do(func() {
		ws := []writer{newWriter(b, 1), newWriter(b, 2), newWriter(b, 3), newWriter(b, 4)}
		base := time.Now().Add(-time.Hour).UnixNano()
		for i := range catchUpN + 1000 {
			catchUpRecords = append(catchUpRecords, seal(b, ws[i%len(ws)], "bench", fmt.Sprintf("msg-%07d", i), base+int64(i), []byte("a short chat message of some sixty bytes, like most of them")))
		}
	})
	return catchUpRecords
}

// catchUpPair returns replicas of catchUpN records each that differ in d:
// a holds d/2 records b lacks, b the other d - d/2.
func catchUpPair(b *testing.B, d int) (*Replica, *Replica) {
	recs := catchUpData(b)
	common := recs[:catchUpN-d+d/2]
	ra, rb := newReplica(b, Settings{Name: "bench"}), newReplica(b, Settings{Name: "bench"})
	insert(b, ra, common...)
	insert(b, rb, common...)
	insert(b, ra, recs[catchUpN-d+d/2:catchUpN]...)
	insert(b, rb, recs[catchUpN:catchUpN+d-d/2]...)
	return ra, rb
}

// BenchmarkCatchUp reconciles two replicas of 100,000 records that differ
// in d, by range-based set reconciliation (rbsr) and, side by side, by the
// naive exchange of the initiator's full list of (key, version). Metrics:
// round trips, bytes each way.
func BenchmarkCatchUp(b *testing.B) {
	for _, d := range []int{0, 10, 1000} {
		b.Run(fmt.Sprintf("d=%d/rbsr", d), func(b *testing.B) {
			var sa, sb Stats
			for b.Loop() {
				b.StopTimer()
				ra, rb := catchUpPair(b, d)
				b.StartTimer()
				var erra, errb error
				sa, sb, erra, errb = reconcile(b, ra, rb)
				if erra != nil || errb != nil {
					b.Fatal(erra, errb)
				}
				b.StopTimer()
				if ra.Fingerprint() != rb.Fingerprint() {
					b.Fatal("the replicas differ after the session")
				}
				b.StartTimer()
			}
			b.ReportMetric(float64(sa.Rounds), "roundtrips")
			b.ReportMetric(float64(sa.BytesSent), "B-sent")
			b.ReportMetric(float64(sb.BytesSent), "B-returned")
		})
		b.Run(fmt.Sprintf("d=%d/naive", d), func(b *testing.B) {
			var sent, returned int64
			for b.Loop() {
				b.StopTimer()
				ra, rb := catchUpPair(b, d)
				b.StartTimer()
				sent, returned = naiveExchange(b, ra, rb)
				b.StopTimer()
				if ra.Fingerprint() != rb.Fingerprint() {
					b.Fatal("the replicas differ after the naive exchange")
				}
				b.StartTimer()
			}
			b.ReportMetric(1, "roundtrips")
			b.ReportMetric(float64(sent), "B-sent")
			b.ReportMetric(float64(returned), "B-returned")
		})
	}
}

// naiveExchange is the baseline: a sends the list of all its (key, clock,
// hash) items; b answers with the records a lacks or holds older and the
// keys it wants, and a sends those. It returns the bytes each way.
func naiveExchange(b *testing.B, ra, rb *Replica) (sent, returned int64) {
	ca, cb := conns(b)
	ctx := context.Background()
	done := make(chan int64, 1)
	go func() {
		r := bufio.NewReader(cb)
		var theirs []WireItem
		for {
			m, _, err := ReadMessage(r)
			if err != nil {
				b.Error(err)
				done <- 0
				return
			}
			if len(m.Ranges) == 0 {
				break
			}
			theirs = append(theirs, m.Ranges[0].Items...)
		}
		push, want := diff(rb.Items(), theirs)
		s := &session{r: rb, queued: map[string]bool{}}
		for _, k := range push {
			s.push(k)
		}
		out := &Message{}
		for _, k := range want {
			out.Wants = append(out.Wants, []byte(k))
		}
		var n int64
		for {
			recs, err := s.records(ctx)
			if err != nil {
				b.Error(err)
			}
			out.Records = recs
			k, err := WriteMessage(cb, out)
			if err != nil {
				b.Error(err)
			}
			n += int64(k)
			if len(s.pushQ) == 0 {
				break
			}
			out = &Message{}
		}
		_ = cb.CloseWrite()
		// Take the records a sends for the wants.
		for {
			m, _, err := ReadMessage(r)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Error(err)
				break
			}
			sr := &session{r: rb, queued: map[string]bool{}}
			if err := sr.apply(ctx, m.Records); err != nil {
				b.Error(err)
			}
		}
		done <- n
	}()
	items := ra.Items()
	for len(items) > 0 {
		n := min(len(items), MaxListItems)
		k, err := WriteMessage(ca, &Message{Ranges: []Range{{Mode: ModeList, Items: wireItems(items[:n])}}})
		if err != nil {
			b.Fatal(err)
		}
		sent += int64(k)
		items = items[n:]
	}
	k, err := WriteMessage(ca, &Message{})
	if err != nil {
		b.Fatal(err)
	}
	sent += int64(k)
	r := bufio.NewReader(ca)
	s := &session{r: ra, queued: map[string]bool{}}
	for {
		m, n, err := ReadMessage(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		returned += int64(n)
		if err := s.apply(ctx, m.Records); err != nil {
			b.Fatal(err)
		}
		for _, w := range m.Wants {
			s.push(string(w))
		}
	}
	for len(s.pushQ) > 0 {
		recs, err := s.records(ctx)
		if err != nil {
			b.Fatal(err)
		}
		k, err := WriteMessage(ca, &Message{Records: recs})
		if err != nil {
			b.Fatal(err)
		}
		sent += int64(k)
	}
	_ = ca.CloseWrite()
	<-done
	return sent, returned
}
