//go:build !unix

package control

import "net"

// listenPrivate binds the socket; on Windows the file's ACL is inherited
// from the data directory, which holdover creates for its own user only.
func listenPrivate(path string) (net.Listener, error) {
	return net.Listen("unix", path)
}
