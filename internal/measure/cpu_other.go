//go:build !linux

package measure

import "time"

// ThreadCPU returns the CPU time the calling OS thread has used; on this
// platform it cannot, and ok is false.
func ThreadCPU() (d time.Duration, ok bool) { return 0, false }
