package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	gosync "sync"
	"time"

	"golang.org/x/oauth2"

	"github.com/holdover/holdover/internal/clock"
	hsync "github.com/holdover/holdover/sync"
)

const (
	// DefaultEarlyRefresh is how long before expiry a token is renewed:
	// minutes of clock skew between us, the identity provider and the
	// mail server must not make a token we hand out expire in use.
	DefaultEarlyRefresh = 5 * time.Minute
	// minValid is what AccessToken promises: the token it returns is
	// valid for at least this long.
	minValid = time.Minute
	// reuseFresh: a token obtained this recently is not refreshed again
	// by Refresh (IMAP and SMTP refused the same old token at once).
	reuseFresh = 10 * time.Second
	// quietAfterFailure spaces out early renewals while the identity
	// provider fails and the cached token is still valid.
	quietAfterFailure = 30 * time.Second
	// requestTimeout bounds one token request.
	requestTimeout = 30 * time.Second
)

// Config is one account's sign-in: the client registered with the
// identity provider and where its tokens live.
type Config struct {
	Account  string
	ClientID string
	// ClientSecret fetches the client secret (a secret source); nil for
	// public clients (Microsoft's desktop apps need none).
	ClientSecret func(context.Context) (string, error)
	AuthURL      string
	TokenURL     string
	DeviceURL    string
	Scopes       []string
	// DataDir holds tokens/<account>.json.
	DataDir string
	// Credential names a systemd credential holding a refresh token, used
	// when no token file exists yet or when it changed since it was last
	// used (service installs).
	Credential string
	// EarlyRefresh: zero means DefaultEarlyRefresh.
	EarlyRefresh time.Duration
	// HTTPClient talks to the identity provider; nil: a client with a
	// 30 s timeout.
	HTTPClient *http.Client
	Clock      clock.Clock // nil: the wall clock
	Log        *slog.Logger
}

func (c Config) path() string { return TokenPath(c.DataDir, c.Account) }

// oauth2Config builds the library's config, fetching the client secret.
func (c Config) oauth2Config(ctx context.Context) (*oauth2.Config, error) {
	oc := &oauth2.Config{
		ClientID: c.ClientID,
		Endpoint: oauth2.Endpoint{AuthURL: c.AuthURL, TokenURL: c.TokenURL, DeviceAuthURL: c.DeviceURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   c.Scopes,
	}
	if c.ClientSecret != nil {
		s, err := c.ClientSecret(ctx)
		if err != nil {
			// The secret source's errors never hold the secret.
			return nil, hsync.Errorf(hsync.Auth, "oauth2 client secret", err)
		}
		oc.ClientSecret = s
	}
	return oc, nil
}

func (c Config) httpContext(ctx context.Context) context.Context {
	hc := c.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: requestTimeout}
	}
	return context.WithValue(ctx, oauth2.HTTPClient, hc)
}

// Source hands out one account's access tokens, refreshing them with the
// stored refresh token. It is safe for concurrent use; make one per
// account and share it between that account's connectors.
type Source struct {
	cfg Config
	clk clock.Clock
	log *slog.Logger
	// sem admits one refresh at a time; waiting for it respects ctx.
	sem chan struct{}

	// Guarded by sem.
	tok *oauth2.Token
	// got is when this Source refreshed tok; zero for a token read from
	// the file (a login, another process), which callers may have been
	// refused already.
	got      time.Time
	loaded   stamp  // the file version tok came from or was saved as
	latched  error  // a NeedsLogin answered without asking again
	latchFor stamp  // the file version latched refers to
	seed     string // see tokenFile.Seed
	// quietUntil: after a transient refresh failure, a still-valid token
	// is handed out without asking again until then.
	quietUntil time.Time

	// current is tok's access token and expiry for Expiry, which must not
	// wait behind a refresh holding sem.
	mu      gosync.Mutex
	current oauth2.Token
}

// New returns the Source of cfg's account.
func New(cfg Config) *Source {
	if cfg.EarlyRefresh == 0 {
		cfg.EarlyRefresh = DefaultEarlyRefresh
	}
	s := &Source{cfg: cfg, clk: cfg.Clock, log: cfg.Log, sem: make(chan struct{}, 1)}
	if s.clk == nil {
		s.clk = clock.Real{}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("account", cfg.Account, "component", "oauth2")
	return s
}

func (s *Source) lock(ctx context.Context) error {
	select {
	case s.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Source) unlock() { <-s.sem }

// AccessToken returns a token valid for at least a minute, refreshing it
// first when it expires within EarlyRefresh.
func (s *Source) AccessToken(ctx context.Context) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.unlock()
	if err := s.load(); err != nil {
		if s.tok != nil {
			return s.keepOr(*s.tok, err)
		}
		return "", err
	}
	now := s.clk.Now()
	if s.tok.AccessToken != "" && s.tok.Expiry.Sub(now) > s.cfg.EarlyRefresh {
		return s.tok.AccessToken, nil
	}
	// Early renewal failed a moment ago and the token still works: each
	// new connection does not ask the identity provider again.
	if now.Before(s.quietUntil) && s.tok.AccessToken != "" && s.tok.Expiry.Sub(now) >= minValid {
		return s.tok.AccessToken, nil
	}
	return s.refresh(ctx)
}

// Refresh discards the cached access token (the server refused it) and
// returns a new one. A token this Source refreshed in the last seconds
// is returned as it is: another connector refused the old one at the
// same time. A token read from the file is never reused so: it is the
// one the caller was refused (a login moments ago whose token the mail
// server does not take yet, or a provider that voided it early).
func (s *Source) Refresh(ctx context.Context) (string, error) {
	if err := s.lock(ctx); err != nil {
		return "", err
	}
	defer s.unlock()
	if err := s.load(); err != nil {
		return "", err
	}
	if s.tok.AccessToken != "" && s.clk.Now().Sub(s.got) < reuseFresh {
		return s.tok.AccessToken, nil
	}
	s.tok.AccessToken = "" // refused: never hand it out again
	s.publish()
	return s.refresh(ctx)
}

// load makes s.tok the stored sign-in, re-reading the file when it
// changed on disk (a login in another process). With no file, or a file
// older than a new systemd credential, the credential seeds it.
func (s *Source) load() error {
	path := s.cfg.path()
	st := statStamp(path)
	if s.latched != nil && st == s.latchFor {
		return s.latched
	}
	s.latched = nil
	if s.tok != nil && st == s.loaded {
		return nil
	}
	tf, err := readTokenFile(path)
	switch {
	case errors.Is(err, errNoFile):
		tf = tokenFile{}
	case err != nil:
		return hsync.Errorf(hsync.NeedsLogin, "oauth2 sign-in", err)
	}
	if s.cfg.Credential != "" {
		rt, err := readCredential(s.cfg.Credential)
		switch {
		case err != nil && tf.RefreshToken == "":
			return needsLogin(s.cfg.Account, "not signed in ("+err.Error()+")")
		case err == nil && seedOf(rt) != tf.Seed:
			// A new credential: a sign-in provisioned for the service.
			tf = tokenFile{RefreshToken: rt, Seed: seedOf(rt)}
			s.log.Info("using the refresh token of the systemd credential", "credential", s.cfg.Credential)
		}
	}
	if tf.RefreshToken == "" && tf.AccessToken == "" {
		s.tok = nil // logged out: the cached token goes too
		s.publish()
		return needsLogin(s.cfg.Account, "not signed in")
	}
	s.tok, s.got, s.seed, s.loaded = tf.token(), time.Time{}, tf.Seed, st
	s.publish()
	return nil
}

// refresh asks the identity provider for a new access token. With sem
// held.
func (s *Source) refresh(ctx context.Context) (string, error) {
	cached := *s.tok
	if cached.RefreshToken == "" {
		return s.keepOr(cached, needsLogin(s.cfg.Account, "the sign-in has no refresh token"))
	}
	oc, err := s.cfg.oauth2Config(ctx)
	if err != nil {
		return s.keepOr(cached, err)
	}
	rctx, cancel := context.WithTimeout(s.cfg.httpContext(ctx), requestTimeout)
	defer cancel()
	// An expired copy makes the library refresh instead of reusing it.
	old := &oauth2.Token{RefreshToken: cached.RefreshToken, Expiry: time.Unix(1, 0)}
	tok, err := oc.TokenSource(rctx, old).Token()
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		err = Classify(s.cfg.Account, err)
		if hsync.KindOf(err) == hsync.NeedsLogin {
			// Another process (holdover sync --once, a login) may have
			// rotated the refresh token meanwhile: its file wins.
			if st := statStamp(s.cfg.path()); st != s.loaded {
				if s.load() == nil && s.tok.AccessToken != "" && s.tok.Expiry.Sub(s.clk.Now()) >= minValid {
					return s.tok.AccessToken, nil
				}
			}
			// Asking again cannot help: wait for a new token file.
			s.latched, s.latchFor = err, statStamp(s.cfg.path())
		}
		if hsync.KindOf(err) == hsync.Transient {
			s.quietUntil = s.clk.Now().Add(quietAfterFailure)
		}
		s.log.Warn("token refresh failed", "kind", hsync.KindOf(err).String(), "err", err)
		return s.keepOr(cached, err)
	}
	if tok.RefreshToken == "" {
		tok.RefreshToken = cached.RefreshToken
	}
	now := s.clk.Now()
	tf := tokenFile{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry, Seed: s.seed, SavedAt: now}
	// The rotated refresh token is on disk before the new access token is
	// used: the old one may already be void.
	if err := writeTokenFile(s.cfg.path(), tf); err != nil {
		return "", hsync.Errorf(hsync.Transient, "oauth2 sign-in", err)
	}
	s.tok, s.got, s.loaded = tf.token(), now, statStamp(s.cfg.path())
	s.publish()
	s.log.Debug("access token refreshed", "expires", tok.Expiry, "rotated", tok.RefreshToken != cached.RefreshToken)
	return tok.AccessToken, nil
}

// publish makes s.tok what Expiry answers about. With sem held.
func (s *Source) publish() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.current = oauth2.Token{}
	if s.tok != nil {
		s.current = oauth2.Token{AccessToken: s.tok.AccessToken, Expiry: s.tok.Expiry}
	}
}

// Expiry returns when token, an access token this Source handed out,
// expires; false when it is not the current one (replaced since, so its
// expiry is no longer known). A connector uses it to end a long-lived
// session before its sign-in runs out: Microsoft 365 and Gmail drop a
// session whose token expired, mid-command.
func (s *Source) Expiry(token string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if token == "" || token != s.current.AccessToken || s.current.Expiry.IsZero() {
		return time.Time{}, false
	}
	return s.current.Expiry, true
}

// keepOr returns the cached access token while it is valid for at least
// minValid, whatever the identity provider said; err otherwise.
func (s *Source) keepOr(cached oauth2.Token, err error) (string, error) {
	if cached.AccessToken != "" && cached.Expiry.Sub(s.clk.Now()) >= minValid {
		s.log.Debug("identity provider not usable; the cached access token is still valid", "expires", cached.Expiry)
		return cached.AccessToken, nil
	}
	return "", err
}
