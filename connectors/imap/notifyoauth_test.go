package imap_test

import (
	"context"
	"strings"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// The NOTIFY session signs in with OAuth2 like the main one: the
// mechanism the server offers, one refresh for an expired token, and a
// token the provider never issued is an Auth error that does not show
// the token. Then it hears of new mail in a subfolder.
func TestNotifierSignsInWithOAuth2(t *testing.T) {
	o := testenv.StartOIDC(t)
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			d := testenv.StartDovecot(t, testenv.WithOAuth2(o, mech))
			ts := &fakeTokens{access: o.MintExpired(t, d.User).AccessToken, fresh: o.Mint(t, d.User).AccessToken}
			n, err := imapconn.DialNotifier(context.Background(), oauthConfig(d, ts))
			if err != nil {
				t.Fatalf("DialNotifier: %v", err)
			}
			defer n.Close()
			if a, r := ts.calls(); a != 1 || r != 1 {
				t.Fatalf("AccessToken called %d times, Refresh %d; want 1 and 1", a, r)
			}
			waitLoginMethods(t, d, strings.ToUpper(mech))

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			heard := make(chan string, 16)
			go n.Notify(ctx, func(folder string) { heard <- folder })
			if f := <-heard; f != "" {
				t.Fatalf("first report %q, want the catch-up \"\"", f)
			}
			c := d.Client(t) // passwords still work beside OAuth2
			if err := c.Create("Lists", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			testenv.Append(t, c, "Lists", []byte("Subject: pushed\r\nMessage-ID: <p@example.com>\r\n\r\nbody\r\n"), time.Time{})
			for {
				select {
				case f := <-heard:
					if f == "Lists" {
						return
					}
				case <-ctx.Done():
					t.Fatal("no report of the new mail in Lists")
				}
			}
		})
	}
}

func TestNotifierRefusesATokenTheProviderNeverIssued(t *testing.T) {
	o := testenv.StartOIDC(t)
	d := testenv.StartDovecot(t, testenv.WithOAuth2(o))
	const forged = "forged-token-0123456789"
	ts := &fakeTokens{access: forged, fresh: forged}
	_, err := imapconn.DialNotifier(context.Background(), oauthConfig(d, ts))
	if err == nil || hsync.KindOf(err) != hsync.Auth {
		t.Fatalf("DialNotifier with a forged token: %v (kind %v), want an Auth error", err, hsync.KindOf(err))
	}
	if strings.Contains(err.Error(), forged) {
		t.Fatalf("the error shows the token: %v", err)
	}
}

// The NOTIFY session, like IDLE, ends before its token expires: Notify
// returns nil (dial again) instead of waiting for the server to end the
// session mid-report.
func TestNotifyEndsBeforeTheSessionsTokenExpires(t *testing.T) {
	o := testenv.StartOIDC(t)
	d := testenv.StartDovecot(t, testenv.WithOAuth2(o))
	tok := o.Mint(t, d.User).AccessToken
	short := &expiringTokens{fakeTokens: fakeTokens{access: tok}, expiry: time.Now().Add(3 * time.Second)}
	n, err := imapconn.DialNotifier(t.Context(), oauthConfig(d, short))
	if err != nil {
		t.Fatalf("DialNotifier: %v", err)
	}
	defer n.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	began := time.Now()
	if err := n.Notify(ctx, func(string) {}); err != nil {
		t.Fatalf("Notify = %v, want nil (ended to sign in again)", err)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("NOTIFY ended after %s, past the token's expiry", took.Round(time.Millisecond))
	}
}
