package replica

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"
)

// wireN is the replica size of BenchmarkWireVersions.
const wireN = 100_000

var (
	wireOnce    sync.Once
	wireRecords []Verified // wireN records from 64 writers, random keys, 256-byte values
)

func wireData(b *testing.B) []Verified {
	wireOnce.Do(func() {
		var ws []writer
		for i := range 64 {
			ws = append(ws, newWriter(b, int64(i)))
		}
		rng := rand.New(rand.NewPCG(20, 4))
		base := time.Now().Add(-time.Hour).UnixNano()
		value := make([]byte, 256)
		for range wireN {
			for j := range value {
				value[j] = byte(rng.Uint32())
			}
			key := fmt.Sprintf("%016x", rng.Uint64())
			wireRecords = append(wireRecords, seal(b, ws[rng.IntN(len(ws))], "bench", key, base+rng.Int64N(int64(time.Hour)), value))
		}
	})
	return wireRecords
}

// wirePair returns two replicas of the wireN records but d of them, chosen
// at random from a fixed seed: a holds d/2 of those, b the others. It
// returns the bytes of the d envelopes, the floor of a catch-up.
func wirePair(b *testing.B, d int) (ra, rb *Replica, floor int) {
	recs := wireData(b)
	rng := rand.New(rand.NewPCG(uint64(d), 10))
	missing := make(map[int]int) // index: 0 on a only, 1 on b only
	for len(missing) < d {
		missing[rng.IntN(len(recs))] = len(missing) % 2
	}
	var onA, onB []Verified
	for i, v := range recs {
		side, ok := missing[i]
		if !ok || side == 0 {
			onA = append(onA, v)
		}
		if !ok || side == 1 {
			onB = append(onB, v)
		}
		if ok {
			floor += len(v.Data)
		}
	}
	ra, rb = newReplica(b, Settings{Name: "bench"}), newReplica(b, Settings{Name: "bench"})
	insert(b, ra, onA...)
	insert(b, rb, onB...)
	return ra, rb, floor
}

// BenchmarkWireVersions reconciles two replicas of 100,000 records (64
// writers, random keys, 256-byte values: envelopes of about 478 bytes)
// that differ in d records at random keys, half missing on each side, by
// each version of the protocol in one run. Metrics: the bytes each way and
// in all, round trips, and the bytes in all over the bytes of the d
// envelopes (the floor).
func BenchmarkWireVersions(b *testing.B) {
	for _, d := range []int{0, 10, 1000} {
		for _, v := range []Version{Version1, Version2} {
			b.Run(fmt.Sprintf("d=%d/v%d", d, v), func(b *testing.B) {
				var sa, sb Stats
				floor := 0
				for b.Loop() {
					b.StopTimer()
					var ra, rb *Replica
					ra, rb, floor = wirePair(b, d)
					b.StartTimer()
					var erra, errb error
					sa, sb, erra, errb = reconcileVersion(b, ra, rb, v)
					if erra != nil || errb != nil {
						b.Fatal(erra, errb)
					}
					b.StopTimer()
					if ra.Fingerprint() != rb.Fingerprint() || ra.set.Len() != wireN {
						b.Fatal("the replicas differ after the session")
					}
					b.StartTimer()
				}
				total := sa.BytesSent + sb.BytesSent
				b.ReportMetric(float64(sa.Rounds), "roundtrips")
				b.ReportMetric(float64(sa.BytesSent), "B-sent")
				b.ReportMetric(float64(sb.BytesSent), "B-returned")
				b.ReportMetric(float64(total), "B-total")
				if floor > 0 {
					b.ReportMetric(float64(total)/float64(floor), "x-floor")
					b.ReportMetric(float64(floor)/float64(d), "B/envelope")
				}
			})
		}
	}
}
