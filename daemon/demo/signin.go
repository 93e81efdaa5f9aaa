package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/oauth"
	"github.com/holdover/holdover/daemon"
)

// demoClientID is the application registered with the demo's identity
// provider.
const demoClientID = "holdover-demo"

// signIn does what `holdover account login demo` does, with the demo
// playing the browser: the authorization code flow with PKCE and a
// loopback redirect, against the demo's identity provider, the sign-in
// stored in <data_dir>/tokens/demo.json (0600) before the daemon starts.
func (d *demo) signIn(ctx context.Context) error {
	cfg, err := config.Load(d.cfgPath)
	if err != nil {
		return err
	}
	acct, ok := cfg.Account("demo")
	if !ok || acct.SignIn() == nil {
		return errors.New("demo: the demo account has no oauth2 sign-in")
	}
	oc := daemon.OAuthConfig(cfg.DataDir, acct.Name, acct.SignIn(), nil)
	if err := oauth.LoginBrowser(ctx, oc, oauth.Browser{Out: io.Discard, Open: browse}); err != nil {
		return fmt.Errorf("demo: sign-in: %w", err)
	}
	d.say("signed in with OAuth2 at the demo's identity provider (authorization code + PKCE, as")
	d.say("`holdover account login demo` does in a browser); IMAP and SMTP use that sign-in")
	return nil
}

// browse is the person at the browser: it opens the authorization URL,
// the identity provider consents at once and redirects to holdover's
// loopback listener.
func browse(authURL string) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(authURL)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("the sign-in ended with %s", resp.Status)
	}
	return nil
}

// waitSignIn shows the mail servers answering before their identity
// provider does: holdover's access token has expired meanwhile, it cannot
// renew it, so mail stays in its outage (a transient one: nothing to do
// for the person) while calendar and files drain.
func (d *demo) waitSignIn(ctx context.Context) error {
	var words string
	err := d.until(ctx, "the identity provider's outage to be noticed", func() bool {
		st, err := daemon.CollectStatus(ctx, nil, d.db)
		if err != nil {
			return false
		}
		for _, a := range st.Accounts {
			for _, s := range a.Services {
				if i := strings.Index(s.LastError, "identity provider unreachable"); s.Service == "imap" && i >= 0 {
					words = s.LastError[i:]
					return true
				}
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	d.say("The mail servers answer before their identity provider does, and the access token has expired:")
	d.say("  imap   down, %s (transient: the queue waits, no action needed)", words)
	return nil
}

// checkSignIn asks the mail servers whether holdover signed in to them
// with an access token issued after the identity provider came back:
// the token it held had expired meanwhile, so this one was renewed.
func (d *demo) checkSignIn(back time.Time) error {
	for _, s := range []struct {
		name string
		in   *signIns
	}{{"IMAP", d.imap.oauth}, {"SMTP", d.smtp.oauth}} {
		if s.in.newest().Before(back) {
			return fmt.Errorf("demo: the %s server saw no token issued after the outage", s.name)
		}
	}
	if d.idp.renewedSince(back) == 0 {
		return errors.New("demo: the identity provider renewed no token after the outage")
	}
	return nil
}
