//go:build !unix

package main

// lockDataDir does nothing where there is no flock: there, the control
// socket alone keeps a second daemon out of a data directory.
func lockDataDir(string) (unlock func(), err error) { return func() {}, nil }
