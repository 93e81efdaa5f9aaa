package oauthsasl

import "time"

// RenewBefore is how long before its access token expires a session
// signed in with OAuth2 is replaced by a new one: Microsoft 365 and Gmail
// end a session whose token expired (mid-command, for all they care), and
// Dovecot never looks again, so holdover keeps no session past its token.
// Two minutes leave the token source room to refresh (it renews five
// minutes early) and the cached token still valid if the identity
// provider is down then.
const RenewBefore = 2 * time.Minute

// tokenExpiry is implemented by token sources that know when the tokens
// they handed out expire (*oauth.Source).
type tokenExpiry interface {
	Expiry(token string) (time.Time, bool)
}

// RenewAt is when a session signed in with token from src must be
// replaced: RenewBefore ahead of the token's expiry, or halfway through
// a token that lives shorter than twice that. It is zero when the token
// does not expire or src cannot tell.
func RenewAt(src any, token string) time.Time {
	te, ok := src.(tokenExpiry)
	if !ok {
		return time.Time{}
	}
	exp, ok := te.Expiry(token)
	if !ok {
		return time.Time{}
	}
	left := time.Until(exp)
	return exp.Add(-min(RenewBefore, left/2))
}
