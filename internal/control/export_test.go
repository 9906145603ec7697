package control

import (
	"testing"
	"time"
)

// MaxBody is the largest request body the API reads.
const MaxBody = maxBody

// ShortenTimeouts sets the control API's header, read and idle timeouts to
// d for servers started until t ends. A test calling it must not run in
// parallel with others.
func ShortenTimeouts(t testing.TB, d time.Duration) {
	h, b, i := headerTimeout, readTimeout, idleTimeout
	headerTimeout, readTimeout, idleTimeout = d, d, d
	t.Cleanup(func() { headerTimeout, readTimeout, idleTimeout = h, b, i })
}
