package imap

import (
	"time"

	"github.com/holdover/holdover/connectors/internal/oauthsasl"
)

// signedIn records when the session signed in with token must be
// replaced (oauthsasl.RenewAt).
func (s *Session) signedIn(token string) { s.renewAt = oauthsasl.RenewAt(s.cfg.OAuth2, token) }

// SignInEnding implements sync.ExpiringSession: the session's sign-in
// runs out soon, so it should be closed and a new one dialled (which
// signs in with a fresh token). Always false with passwords.
func (s *Session) SignInEnding() bool {
	return !s.renewAt.IsZero() && !time.Now().Before(s.renewAt)
}

// untilRenew is how long the session may still be used; ok is false
// when its sign-in does not expire.
func (s *Session) untilRenew() (d time.Duration, ok bool) {
	if s.renewAt.IsZero() {
		return 0, false
	}
	return max(time.Until(s.renewAt), 0), true
}
