package gateway

// HoldWatches makes every event stream's watch wait for release before it
// takes each change, until restore is called.
func HoldWatches(release <-chan struct{}) (restore func()) {
	f := func() { <-release }
	watched.Store(&f)
	return func() { watched.Store(nil) }
}
