//go:build unix

package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDataDir takes the data directory dir, which must exist, for this
// process until it calls the returned unlock: a daemon holds it while it
// runs, init while it creates a node, so two netabase processes never
// create or run the node of one data directory at once. The lock is the
// kernel's (flock on the directory), so a process that dies releases it.
func lockDataDir(dir string) (unlock func(), err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("cannot open the data directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errDataDirBusy(dir)
		}
		return nil, fmt.Errorf("cannot lock the data directory %s: %w", dir, err)
	}
	return func() { _ = f.Close() }, nil
}
