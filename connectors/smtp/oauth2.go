package smtp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/connectors/internal/oauthsasl"
)

// TokenSource hands out OAuth2 access tokens. Errors it returns are
// already classified (sync.Errorf): the connector passes them on
// unchanged.
type TokenSource interface {
	// AccessToken returns a token valid for at least a minute,
	// refreshing it first when needed.
	AccessToken(ctx context.Context) (string, error)
	// Refresh discards the cached access token (the server refused it)
	// and returns a fresh one.
	Refresh(ctx context.Context) (string, error)
}

// tokenSourceError carries an error of the TokenSource through Dial
// unchanged (it is already classified).
type tokenSourceError struct{ err error }

func (e tokenSourceError) Error() string { return e.err.Error() }
func (e tokenSourceError) Unwrap() error { return e.err }

// errReconnect: the server refused the token and hung up; Dial tries the
// refreshed token (freshToken) on a new connection.
var errReconnect = errors.New("smtp: reconnect to retry with a fresh token")

// loginOAuth2 signs in with the token source's access token; a refused
// token is refreshed once and the fresh one tried again.
func (cl *Client) loginOAuth2(ctx context.Context) error {
	_, offered := cl.c.Extension("AUTH")
	mech := oauthsasl.Pick(strings.Fields(offered))
	if mech == "" {
		return setupError{fmt.Errorf("the server offers AUTH %s; signing in with OAuth2 needs OAUTHBEARER or XOAUTH2", offered)}
	}
	if tok := cl.freshToken; tok != "" {
		cl.freshToken = ""
		return cl.lastTry(mech, tok)
	}
	tok, err := cl.cfg.OAuth2.AccessToken(ctx)
	if err != nil {
		return tokenSourceError{err}
	}
	refused, err := cl.authOAuth2(mech, tok)
	if err != nil || !refused {
		return err
	}
	if tok, err = cl.cfg.OAuth2.Refresh(ctx); err != nil {
		return tokenSourceError{err}
	}
	err = cl.lastTry(mech, tok)
	var se *smtp.SMTPError
	if err != nil && !errors.As(err, &se) && !errors.As(err, new(setupError)) {
		// Not a reply: the server hung up after its refusal.
		cl.freshToken = tok
		return errReconnect
	}
	return err
}

// lastTry authenticates with a refreshed token: a refusal now is for good.
func (cl *Client) lastTry(mech, tok string) error {
	refused, err := cl.authOAuth2(mech, tok)
	if err != nil {
		return err
	}
	if refused {
		return setupError{fmt.Errorf("the server refused the OAuth2 token for %s", cl.cfg.Username)}
	}
	return nil
}

// authOAuth2 runs AUTH; refused reports that the server turned the token
// down (an error challenge or a 5xx reply), which a fresh token may cure.
func (cl *Client) authOAuth2(mech, tok string) (refused bool, err error) {
	client := oauthsasl.NewClient(mech, cl.cfg.Username, tok, nil)
	err = cl.c.Auth(client)
	if err == nil {
		cl.renewAt = oauthsasl.RenewAt(cl.cfg.OAuth2, tok)
		return false, nil
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		if se.Code/100 == 4 {
			return false, fmt.Errorf("login as %s: %w", cl.cfg.Username, replyError{se})
		}
		return true, nil
	}
	if client.Refused() != nil {
		return true, nil
	}
	return false, err
}
