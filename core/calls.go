package core

import "time"

// CallReporter is implemented by a backend whose operations are calls to
// another process, such as a plugin: CallStats returns the figures of
// those calls, and ok is true. A Backend from [Wrap] implements it always
// and forwards it to its engine; ok is false when the engine makes no such
// calls. Metrics and `netabase stats` read a node's figures through it,
// whatever driver opened the store.
type CallReporter interface {
	CallStats() (stats CallStats, ok bool)
}

// CallStats are the figures of a backend's calls to another process: each
// call's round-trip time (from the call to its answer, the other process's
// work included) in a histogram, the calls and streams in flight, and how
// often the other process was started again after it died.
type CallStats struct {
	// Calls is the number of calls answered, or failed, and Seconds their
	// total time.
	Calls   uint64  `json:"calls"`
	Seconds float64 `json:"seconds"`
	// Bounds are the histogram's upper bounds, in seconds, in increasing
	// order; Buckets has one count more than Bounds: Buckets[i] counts the
	// calls that took at most Bounds[i] and more than the bound before, the
	// last those slower than every bound.
	Bounds  []float64 `json:"-"`
	Buckets []uint64  `json:"-"`
	// InFlight are the calls and streams under way now.
	InFlight int64 `json:"in_flight"`
	// Restarts counts the other processes started again after one died.
	Restarts uint64 `json:"restarts"`
}

// Since returns the figures of the calls after base, an earlier reading
// of the same backend; InFlight is s's.
func (s CallStats) Since(base CallStats) CallStats {
	out := CallStats{Calls: s.Calls - base.Calls, Seconds: s.Seconds - base.Seconds, InFlight: s.InFlight,
		Restarts: s.Restarts - base.Restarts, Bounds: s.Bounds, Buckets: make([]uint64, len(s.Buckets))}
	for i := range s.Buckets {
		out.Buckets[i] = s.Buckets[i]
		if i < len(base.Buckets) {
			out.Buckets[i] -= base.Buckets[i]
		}
	}
	return out
}

// Quantile returns the round-trip time that a fraction q (0 to 1) of the
// calls took at most, interpolated within its bucket; 0 when no call was
// made.
func (s CallStats) Quantile(q float64) time.Duration {
	if s.Calls == 0 || len(s.Bounds) == 0 {
		return 0
	}
	rank := q * float64(s.Calls)
	var seen float64
	for i, n := range s.Buckets {
		if n == 0 || seen+float64(n) < rank {
			seen += float64(n)
			continue
		}
		lo := 0.0
		if i > 0 {
			lo = s.Bounds[i-1]
		}
		if i >= len(s.Bounds) {
			return time.Duration(lo * 1e9) // no bound above: the last one
		}
		frac := (rank - seen) / float64(n)
		return time.Duration((lo + frac*(s.Bounds[i]-lo)) * 1e9)
	}
	return time.Duration(s.Bounds[len(s.Bounds)-1] * 1e9)
}
