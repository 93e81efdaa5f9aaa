//go:build unix

package control

import (
	"net"
	"sync"
	"syscall"
)

var umaskMu sync.Mutex

// listenPrivate binds with umask 0177 so the socket is never, even for an
// instant, connectable by other users. The umask is process-wide, hence
// the lock and the immediate restore.
func listenPrivate(path string) (net.Listener, error) {
	umaskMu.Lock()
	defer umaskMu.Unlock()
	old := syscall.Umask(0o177)
	defer syscall.Umask(old)
	return net.Listen("unix", path)
}
