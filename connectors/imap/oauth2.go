package imap

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/connectors/internal/oauthsasl"
	hsync "github.com/holdover/holdover/sync"
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

// reconnectError: the server refused the token and hung up; Dial tries
// the refreshed token on a new connection.
type reconnectError struct{ token string }

func (reconnectError) Error() string { return "imap: reconnect to retry with a fresh token" }

// loginOAuth2 signs in with the token source's access token. A refused
// token is refreshed once and the fresh one tried on the same connection
// (or, when the server hung up, a new one: reconnectError).
func (s *Session) loginOAuth2(ctx context.Context) error {
	mech, err := s.oauthMechanism()
	if err != nil {
		return err
	}
	tok, err := s.cfg.OAuth2.AccessToken(ctx)
	if err != nil {
		return err
	}
	refused, err := s.authenticate(mech, tok)
	if err != nil || !refused {
		return err
	}
	if tok, err = s.cfg.OAuth2.Refresh(ctx); err != nil {
		return err
	}
	if s.closed() {
		return reconnectError{tok}
	}
	err = s.lastTry(mech, tok)
	var ie *imap.Error
	if err != nil && hsync.KindOf(err) == hsync.Transient && !errors.As(err, &ie) {
		// Not a reply: the server hung up after its refusal.
		return reconnectError{tok}
	}
	return err
}

// lastTry authenticates with a refreshed token: a refusal now is for
// good.
func (s *Session) lastTry(mech, tok string) error {
	refused, err := s.authenticate(mech, tok)
	if err != nil {
		return err
	}
	if refused {
		return hsync.Errorf(hsync.Auth, "imap login "+s.cfg.addr(),
			fmt.Errorf("the server refused the OAuth2 token for %s", s.cfg.Username))
	}
	return nil
}

// oauthMechanism picks OAUTHBEARER or XOAUTH2 from the AUTH= capabilities.
func (s *Session) oauthMechanism() (string, error) {
	offered := s.c.Caps().AuthMechanisms()
	if mech := oauthsasl.Pick(offered); mech != "" {
		return mech, nil
	}
	return "", hsync.Errorf(hsync.Auth, "imap login "+s.cfg.addr(),
		fmt.Errorf("the server offers neither OAUTHBEARER nor XOAUTH2 (AUTH=%s); cannot sign in with OAuth2", strings.Join(offered, " AUTH=")))
}

// authenticate runs AUTHENTICATE; refused reports that the server turned
// the token down (an error challenge, or a NO other than UNAVAILABLE),
// which a fresh token may cure. Other failures come back classified.
func (s *Session) authenticate(mech, token string) (refused bool, err error) {
	// go-imap writes an empty answer as "=", which Dovecot takes for bad
	// base64: answer XOAUTH2's error challenge with "\x01" instead.
	client := oauthsasl.NewClient(mech, s.cfg.Username, token, []byte{0x01})
	err = s.c.Authenticate(client)
	if err == nil {
		s.signedIn(token)
		return false, nil
	}
	var ie *imap.Error
	isNo := errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo
	if client.Refused() != nil || (isNo && ie.Code != imap.ResponseCodeUnavailable) {
		return true, nil
	}
	return false, hsync.Errorf(classify(err), "imap login "+s.cfg.addr()+" ("+mech+")", err)
}

// closed reports whether the server has hung up.
func (s *Session) closed() bool {
	select {
	case <-s.c.Closed():
		return true
	default:
		return false
	}
}
