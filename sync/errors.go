// Package sync holds what every sync engine shares: the error kinds that
// connectors classify provider failures into, and the small interfaces
// (MailRemote, …) through which engines talk to providers. Engines live in
// sub-packages (sync/mailsync, …); connectors implement the interfaces.
//
// Invariants:
//   - Errors are classified once, at the connector boundary. An error that
//     carries no kind is Transient: a surprise never drops user data, it
//     is retried (the maddy rule).
//   - Nothing here imports a protocol library, a connector or an endpoint
//     (checked by internal/archtest).
package sync

import (
	"errors"
	"fmt"
)

// Kind says what the outbox and the health tracker should do with an error.
type Kind int

const (
	// Transient: network trouble, timeouts, 5xx, 429, IMAP BYE/UNAVAILABLE,
	// SMTP 4xx. Retry with backoff; enough of them in a row mean an outage.
	Transient Kind = iota
	// Auth: the provider refused the credentials. Keep the queue; the user
	// must act.
	Auth
	// Conflict: the provider's version changed under us (412, 409, MODSEQ).
	Conflict
	// Permanent: the provider refused this request for good (4xx other
	// than the above, SMTP 5xx). Retrying the same request cannot help.
	Permanent
	// NeedsLogin: the sign-in itself is gone (an OAuth2 refresh token
	// revoked or expired, or none stored): only `holdover account login`
	// can bring it back. It is not an outage: the provider may be fine.
	// The queue is kept and local changes are still accepted; nothing
	// retries it in a loop (the token source answers it without asking
	// the identity provider again until a new sign-in is stored), and a
	// login resumes the service.
	NeedsLogin
)

func (k Kind) String() string {
	switch k {
	case Transient:
		return "transient"
	case Auth:
		return "auth"
	case Conflict:
		return "conflict"
	case Permanent:
		return "permanent"
	case NeedsLogin:
		return "needs-login"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Error is a provider error with its kind.
type Error struct {
	Kind Kind
	Op   string // what was attempted, e.g. "imap fetch INBOX"
	Err  error
}

func (e *Error) Error() string {
	if e.Op == "" {
		return e.Err.Error()
	}
	return e.Op + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf wraps err as an Error of kind k.
func Errorf(k Kind, op string, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: k, Op: op, Err: err}
}

// KindOf returns the kind of err: the kind of the outermost *Error in its
// chain, Transient when there is none.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Transient
}
