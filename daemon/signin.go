package daemon

import (
	"context"
	"log/slog"
	"reflect"
	gosync "sync"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/oauth"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/sync/outbox"
)

// signIns holds one oauth.Source per account and data directory in this
// process, so that an account's IMAP sync, IDLE sessions, outbox and
// SMTP share its tokens (and one refresh at a time). A changed sign-in
// configuration replaces the account's source.
var signIns = struct {
	mu gosync.Mutex
	m  map[string]signIn
}{m: map[string]signIn{}}

type signIn struct {
	o   config.OAuth2
	src *oauth.Source
}

// signInSource returns the token source of an account that signs in
// with OAuth2, nil for one that uses passwords.
func signInSource(dataDir string, a config.Account, log *slog.Logger) *oauth.Source {
	o := a.SignIn()
	if o == nil {
		return nil
	}
	key := dataDir + "\x00" + a.Name
	signIns.mu.Lock()
	defer signIns.mu.Unlock()
	if e, ok := signIns.m[key]; ok && reflect.DeepEqual(e.o, *o) {
		return e.src
	}
	src := oauth.New(OAuthConfig(dataDir, a.Name, o, log))
	signIns.m[key] = signIn{o: *o, src: src}
	return src
}

// OAuthConfig is the connector configuration of an account's sign-in
// (holdover account login uses it too).
func OAuthConfig(dataDir, account string, o *config.OAuth2, log *slog.Logger) oauth.Config {
	c := oauth.Config{
		Account: account, ClientID: o.ClientID,
		AuthURL: o.AuthURL, TokenURL: o.TokenURL, DeviceURL: o.DeviceURL, Scopes: o.Scopes,
		DataDir: dataDir, Credential: o.RefreshTokenCredential, Log: log,
	}
	if o.ClientSecret != nil {
		c.ClientSecret = o.ClientSecret.Secret.Resolve
	}
	return c
}

// SignedIn implements control.Daemon: an account has a new sign-in, so
// what waited for it (needs-login) is due now: the failed actions of
// every service are brought forward, the workers woken, and a mail pass
// runs (its success marks the service up again).
func (d *Daemon) SignedIn(account string) {
	targets, err := d.runnersFor(account)
	if err != nil {
		d.log.Warn("sign-in for an account that is not running", "account", account, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	for _, r := range targets {
		for svc := range r.workers {
			if _, err := d.db.ExpediteFailed(ctx, r.acct.Name, outbox.ServiceKinds[svc]); err != nil {
				d.log.Warn("cannot bring failed actions forward", "account", r.acct.Name, "service", svc, "err", err)
			}
		}
		d.Nudge(r.acct.Name, "")
		d.log.Info("new sign-in; resuming", "account", r.acct.Name)
	}
	go func() {
		defer cancel()
		for _, r := range targets {
			if r.mail != nil {
				r.mail.SyncNow(ctx)
			}
		}
	}()
}

// signInStatus says whether account has a stored sign-in and when its
// access token expires.
func signInStatus(dataDir, account string) *apiv1.SignIn {
	info := oauth.Stat(dataDir, account)
	s := &apiv1.SignIn{SignedIn: info.SignedIn, Problem: info.Problem}
	if !info.Expiry.IsZero() {
		e := info.Expiry
		s.Expires = &e
	}
	return s
}
