//go:build !linux

package control

import "net"

// credsOf cannot tell who is at the other end of c on this platform, so it
// says it does not know, and the connection is served: there the socket's
// mode (0600, made private before it could be reached; see [Listen]) is
// the only guard.
func credsOf(*net.UnixConn) (creds peerCreds, known bool, err error) {
	return peerCreds{}, false, nil
}
