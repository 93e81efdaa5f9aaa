// Package locallogin checks the logins local apps use on holdover's
// endpoints (SMTP, IMAP, CalDAV): an account's mail.local or
// calendar.local username and password, where the username picks the
// account.
//
// Invariants:
//   - The comparison takes the same time whatever the password, and
//     whether the username exists: both sides are hashed first, so
//     neither their contents nor their lengths show in the timing.
//   - The password is read from its source at each login, so a rotated
//     secret is picked up without a restart; it is never kept, logged or
//     put in an error.
//   - Wrong credentials are ErrBadCredentials and nothing else; any other
//     error is a local fault (the endpoint answers "try again").
//   - A password may cross in plaintext only where Loopback says so; an
//     endpoint listening anywhere else needs TLS for every login.
package locallogin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
)

// Authenticator checks a local login and returns the account it opens.
// Wrong credentials must be reported as ErrBadCredentials; any other
// error is a local fault.
type Authenticator func(ctx context.Context, username, password string) (account string, err error)

// ErrBadCredentials is what an Authenticator returns for a wrong username
// or password.
var ErrBadCredentials = errors.New("bad username or password")

// Login is one account's local login, as Static takes it.
type Login struct {
	Account string
	// Password is called at each login, so a rotated secret is picked up
	// without a restart.
	Password func(ctx context.Context) (string, error)
}

// Static checks logins against a fixed table keyed by username.
func Static(logins map[string]Login) Authenticator {
	return func(ctx context.Context, username, password string) (string, error) {
		got := sha256.Sum256([]byte(password))
		l, ok := logins[username]
		if !ok || l.Password == nil {
			subtle.ConstantTimeCompare(got[:], got[:])
			return "", ErrBadCredentials
		}
		pw, err := l.Password(ctx)
		if err != nil {
			return "", fmt.Errorf("password of local login %s: %w", username, err)
		}
		want := sha256.Sum256([]byte(pw))
		if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
			return "", ErrBadCredentials
		}
		return l.Account, nil
	}
}

// Loopback reports whether a listener's address keeps a plaintext
// password on this machine: a loopback TCP address or a Unix socket.
func Loopback(a net.Addr) bool {
	switch a := a.(type) {
	case *net.TCPAddr:
		return a.IP.IsLoopback()
	case *net.UnixAddr:
		return true
	}
	return false
}
