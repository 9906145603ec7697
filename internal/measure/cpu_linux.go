package measure

import (
	"time"

	"golang.org/x/sys/unix"
)

// ThreadCPU returns the CPU time the calling OS thread has used: with
// runtime.LockOSThread, what a goroutine's work costs, whatever else the
// machine runs meanwhile (wall time grows with the machine's load, this
// does not). ok is false where it cannot be read.
func ThreadCPU() (d time.Duration, ok bool) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		return 0, false
	}
	return time.Duration(ts.Nano()), true
}
