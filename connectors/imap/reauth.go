package imap

import "time"

// reauthBefore is how long before its access token expires a session
// signed in with OAuth2 is replaced by a new one: Microsoft 365 and Gmail
// end a session whose token expired (mid-command, for all they care), and
// Dovecot never looks again, so holdover keeps no session past its token.
// Two minutes leave the token source room to refresh (it renews five
// minutes early) and the cached token still valid if the identity
// provider is down then.
const reauthBefore = 2 * time.Minute

// tokenExpiry is implemented by token sources that know when the tokens
// they handed out expire (*oauth.Source).
type tokenExpiry interface {
	Expiry(token string) (time.Time, bool)
}

// signedIn records when the session signed in with token must be
// replaced: reauthBefore ahead of the token's expiry, or halfway through
// a token that lives shorter than twice that.
func (s *Session) signedIn(token string) { s.renewAt = renewAt(s.cfg.OAuth2, token) }

// renewAt is when a session signed in with token from src must be
// replaced (see signedIn); zero when the token does not expire or src
// cannot tell.
func renewAt(src TokenSource, token string) time.Time {
	te, ok := src.(tokenExpiry)
	if !ok {
		return time.Time{}
	}
	exp, ok := te.Expiry(token)
	if !ok {
		return time.Time{}
	}
	left := time.Until(exp)
	return exp.Add(-min(reauthBefore, left/2))
}

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
