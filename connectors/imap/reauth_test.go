package imap_test

import (
	"context"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// expiringTokens is a token source that knows when its token expires,
// as *oauth.Source does.
type expiringTokens struct {
	fakeTokens
	expiry time.Time
}

func (e *expiringTokens) Expiry(token string) (time.Time, bool) {
	return e.expiry, token == e.access
}

// A session signed in with a token that expires soon ends its IDLE
// before then and returns nil (dial again), and says its sign-in ends;
// with a long-lived token it stays in IDLE and does not.
func TestIdleEndsBeforeTheSessionsTokenExpires(t *testing.T) {
	o := testenv.StartOIDC(t)
	d := testenv.StartDovecot(t, testenv.WithOAuth2(o))
	tok := o.Mint(t, d.User).AccessToken

	short := &expiringTokens{fakeTokens: fakeTokens{access: tok}, expiry: time.Now().Add(3 * time.Second)}
	s, err := imapconn.Dial(t.Context(), oauthConfig(d, short))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if hsync.SignInEnding(s) {
		t.Fatal("a fresh session's sign-in is ending already")
	}
	began := time.Now()
	if err := s.Idle(t.Context(), "INBOX", func() {}); err != nil {
		t.Fatalf("Idle = %v, want nil (ended to sign in again)", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("IDLE ended after %s, past the token's expiry", took.Round(time.Millisecond))
	}
	if !hsync.SignInEnding(s) {
		t.Fatal("the session does not say its sign-in ends")
	}

	long := &expiringTokens{fakeTokens: fakeTokens{access: tok}, expiry: time.Now().Add(time.Hour)}
	s2, err := imapconn.Dial(t.Context(), oauthConfig(d, long))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	done := make(chan error, 1)
	idleCtx, stop := context.WithCancel(t.Context())
	go func() { done <- s2.Idle(idleCtx, "INBOX", func() {}) }()
	select {
	case err := <-done:
		t.Fatalf("IDLE with an hour-long token ended at once: %v", err)
	case <-time.After(2 * time.Second):
	}
	stop()
	<-done
	if hsync.SignInEnding(s2) {
		t.Fatal("a session with an hour-long token says its sign-in ends")
	}
}
