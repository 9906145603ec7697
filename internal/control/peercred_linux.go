//go:build linux

package control

import (
	"net"

	"golang.org/x/sys/unix"
)

// credsOf returns who is at the other end of c, as the kernel recorded it
// when that process connected (SO_PEERCRED).
func credsOf(c *net.UnixConn) (creds peerCreds, known bool, err error) {
	raw, err := c.SyscallConn()
	if err != nil {
		return peerCreds{}, false, err
	}
	var uc *unix.Ucred
	cerr := raw.Control(func(fd uintptr) {
		uc, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	})
	if cerr != nil {
		return peerCreds{}, false, cerr
	}
	if err != nil {
		return peerCreds{}, false, err
	}
	return peerCreds{uid: int(uc.Uid), pid: int(uc.Pid)}, true, nil
}
