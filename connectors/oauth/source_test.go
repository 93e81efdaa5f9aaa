package oauth

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	gosync "sync"
	"testing"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

func TestAccessTokenReusesATokenValidBeyondTheEarlyRefresh(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", 20*time.Minute)
	tok, err := New(f.cfg).AccessToken(t.Context())
	if err != nil || tok != "access-0-SECRET" {
		t.Fatalf("AccessToken = %q, %v", tok, err)
	}
	if n := p.requests.Load(); n != 0 {
		t.Errorf("%d token requests for a token valid 20 more minutes", n)
	}
}

func TestAccessTokenRefreshesMinutesBeforeExpiryAndPersistsTheRotatedRefreshToken(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	// Four minutes left: a clock skewed by minutes could already see it
	// expired at the mail server.
	f.store(t, "access-0-SECRET", 4*time.Minute)
	tok, err := New(f.cfg).AccessToken(t.Context())
	if err != nil || tok != "access-1-SECRET" {
		t.Fatalf("AccessToken = %q, %v; want the refreshed token", tok, err)
	}
	if got := p.lastForm["refresh_token"]; len(got) != 1 || got[0] != "refresh-0-SECRET" {
		t.Errorf("refresh grant sent refresh_token %v", got)
	}
	tf := f.stored(t)
	if tf.RefreshToken != "refresh-1-SECRET" || tf.AccessToken != "access-1-SECRET" {
		t.Errorf("token file after refresh: refresh %q access %q; want the rotated ones", tf.RefreshToken, tf.AccessToken)
	}
	fi, err := os.Stat(f.cfg.path())
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("token file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	di, _ := os.Stat(f.cfg.DataDir + "/tokens")
	if di.Mode().Perm() != 0o700 {
		t.Errorf("tokens dir mode %v; want 0700", di.Mode().Perm())
	}
	// A second source (a restart) uses the stored token without asking.
	if tok, err := New(f.cfg).AccessToken(t.Context()); err != nil || tok != "access-1-SECRET" || p.requests.Load() != 1 {
		t.Errorf("after restart: %q, %v, %d requests", tok, err, p.requests.Load())
	}
}

func TestConcurrentCallersCauseOneRefresh(t *testing.T) {
	p := newIdP(t)
	p.set(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(50 * time.Millisecond) // all callers arrive meanwhile
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"access_token":"access-new-SECRET","token_type":"Bearer","expires_in":3600}`)
	})
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", -time.Minute)
	src := New(f.cfg)
	var wg gosync.WaitGroup
	errs := make(chan error, 20)
	for range 20 { // IMAP, IDLE sessions and SMTP of one account
		wg.Go(func() {
			tok, err := src.AccessToken(t.Context())
			if err == nil && tok != "access-new-SECRET" {
				err = fmt.Errorf("got %q", tok)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := p.requests.Load(); n != 1 {
		t.Errorf("%d token requests; want 1", n)
	}
	if tf := f.stored(t); tf.RefreshToken != "refresh-0-SECRET" {
		t.Errorf("a refresh answer without a refresh token must keep the old one, file has %q", tf.RefreshToken)
	}
}

func TestRefreshAfterARefusedTokenAsksOnceForTwoConnectors(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", time.Hour)
	src := New(f.cfg)
	a, err := src.Refresh(t.Context())
	if err != nil || a != "access-1-SECRET" {
		t.Fatalf("Refresh = %q, %v", a, err)
	}
	// SMTP was refused the same old token a moment later.
	b, err := src.Refresh(t.Context())
	if err != nil || b != a || p.requests.Load() != 1 {
		t.Errorf("second Refresh = %q, %v after %d requests; want the same fresh token, 1 request", b, err, p.requests.Load())
	}
	f.clk.Advance(time.Minute)
	if c, err := src.Refresh(t.Context()); err != nil || c == a {
		t.Errorf("Refresh a minute later = %q, %v; want a new token", c, err)
	}
}

func TestIdentityProviderDown(t *testing.T) {
	cases := []struct {
		name    string
		expires time.Duration
		answer  func(http.ResponseWriter, *http.Request)
		closed  bool
		wantErr string // "" means the cached token is returned
	}{
		{"unreachable with a token still valid changes nothing", 3 * time.Minute, nil, true, ""},
		{"500 with a token still valid changes nothing", 2 * time.Minute, oauthError("server_error", 500), false, ""},
		{"unreachable with an expired token is transient", -time.Minute, nil, true, "identity provider unreachable: connection refused"},
		{"a connection closed without an answer says so", -time.Minute, func(w http.ResponseWriter, r *http.Request) {
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		}, false, "identity provider unreachable: the connection closed before an answer"},
		{"unreachable with 30 s left is transient (at least a minute is promised)", 30 * time.Second, nil, true, "identity provider unreachable: "},
		{"500 is transient", -time.Minute, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }, false, "identity provider unreachable: the token endpoint answered 500"},
		{"503 with an OAuth2 error is transient", -time.Minute, oauthError("temporarily_unavailable", 503), false, "identity provider unreachable: the token endpoint answered 503"},
		{"an HTML error page is transient", -time.Minute, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(403)
			fmt.Fprint(w, "<html><body>Access denied by proxy</body></html>")
		}, false, "identity provider unreachable: the token endpoint answered an HTML page (status 403)"},
		{"an HTML page with 200 is transient", -time.Minute, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html><body>Please log in to the hotel Wi-Fi</body></html>")
		}, false, "identity provider unreachable: the token endpoint did not answer with a token"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newIdP(t)
			p.set(c.answer)
			f := newFixture(t, p.URL)
			f.store(t, "access-0-SECRET", c.expires)
			if c.closed {
				p.Close()
			}
			tok, err := New(f.cfg).AccessToken(t.Context())
			noSecret(t, err)
			if c.wantErr == "" {
				if err != nil || tok != "access-0-SECRET" {
					t.Fatalf("AccessToken = %q, %v; want the cached token, no error", tok, err)
				}
				return
			}
			if err == nil || hsync.KindOf(err) != hsync.Transient || !strings.Contains(err.Error(), c.wantErr) {
				t.Fatalf("AccessToken = %q, %v (%v); want a transient %q", tok, err, hsync.KindOf(err), c.wantErr)
			}
			if strings.Contains(err.Error(), "<html") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error quotes the answer: %q", err)
			}
		})
	}
}

func TestInvalidGrantNeedsLoginWithoutARetryStorm(t *testing.T) {
	p := newIdP(t)
	p.set(oauthError("invalid_grant", 400))
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", -time.Minute)
	src := New(f.cfg)
	for i := range 50 { // the sync loop, IDLE and the outbox keep asking
		_, err := src.AccessToken(t.Context())
		noSecret(t, err)
		if hsync.KindOf(err) != hsync.NeedsLogin || !strings.Contains(err.Error(), "holdover account login work") {
			t.Fatalf("call %d: %v (%v); want NeedsLogin naming the command", i, err, hsync.KindOf(err))
		}
	}
	if n := p.requests.Load(); n != 1 {
		t.Errorf("%d token requests after invalid_grant; want 1", n)
	}
	// A login (another process) writes a new sign-in: the source uses it.
	p.set(nil)
	time.Sleep(10 * time.Millisecond) // a distinct mtime on coarse filesystems
	if err := writeTokenFile(f.cfg.path(), tokenFile{AccessToken: "fresh-SECRET", RefreshToken: "refresh-9-SECRET", Expiry: f.clk.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if tok, err := src.AccessToken(t.Context()); err != nil || tok != "fresh-SECRET" {
		t.Errorf("after login: %q, %v", tok, err)
	}
}

func TestInvalidGrantWithAValidAccessTokenKeepsWorkingUntilItExpires(t *testing.T) {
	p := newIdP(t)
	p.set(oauthError("invalid_grant", 400))
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", 3*time.Minute)
	src := New(f.cfg)
	if tok, err := src.AccessToken(t.Context()); err != nil || tok != "access-0-SECRET" {
		t.Fatalf("AccessToken = %q, %v; want the cached token", tok, err)
	}
	f.clk.Advance(3 * time.Minute)
	if _, err := src.AccessToken(t.Context()); hsync.KindOf(err) != hsync.NeedsLogin {
		t.Fatalf("after expiry: %v; want NeedsLogin", err)
	}
	if n := p.requests.Load(); n != 1 {
		t.Errorf("%d token requests; want 1", n)
	}
}

func TestNotSignedInNeedsLogin(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	_, err := New(f.cfg).AccessToken(t.Context())
	if hsync.KindOf(err) != hsync.NeedsLogin || !strings.Contains(err.Error(), "not signed in: run `holdover account login work`") {
		t.Fatalf("AccessToken = %v; want NeedsLogin with the command", err)
	}
	if p.requests.Load() != 0 {
		t.Error("asked the identity provider without a sign-in")
	}
}

func TestATokenFileOthersCanReadIsRefused(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", time.Hour)
	if err := os.Chmod(f.cfg.path(), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := New(f.cfg).AccessToken(t.Context())
	noSecret(t, err)
	if err == nil || !strings.Contains(err.Error(), "has mode 0644: refusing") || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("AccessToken = %v; want the file refused with the chmod to run", err)
	}
	if hsync.KindOf(err) != hsync.NeedsLogin {
		t.Errorf("kind %v; want NeedsLogin (a login rewrites it 0600)", hsync.KindOf(err))
	}
	if info := Stat(f.cfg.DataDir, "work"); info.SignedIn || !strings.Contains(info.Problem, "refusing") {
		t.Errorf("Stat = %+v", info)
	}
}

func TestClientOrScopesRefusedIsAuth(t *testing.T) {
	for code, want := range map[string]string{"invalid_client": "client_id", "unauthorized_client": "client_secret", "invalid_scope": "scopes"} {
		t.Run(code, func(t *testing.T) {
			p := newIdP(t)
			p.set(oauthError(code, 400))
			f := newFixture(t, p.URL)
			f.store(t, "", 0)
			_, err := New(f.cfg).AccessToken(t.Context())
			noSecret(t, err)
			if hsync.KindOf(err) != hsync.Auth || !strings.Contains(err.Error(), want) {
				t.Fatalf("AccessToken = %v (%v); want Auth naming %s", err, hsync.KindOf(err), want)
			}
		})
	}
}

func TestSystemdCredentialSeedsTheSignIn(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	creds := t.TempDir()
	t.Setenv("CREDENTIALS_DIRECTORY", creds)
	if err := os.WriteFile(creds+"/holdover-work", []byte("refresh-cred-SECRET\n"), 0o400); err != nil {
		t.Fatal(err)
	}
	f.cfg.Credential = "holdover-work"
	tok, err := New(f.cfg).AccessToken(t.Context())
	if err != nil || tok != "access-1-SECRET" {
		t.Fatalf("AccessToken = %q, %v", tok, err)
	}
	if got := p.lastForm["refresh_token"]; len(got) != 1 || got[0] != "refresh-cred-SECRET" {
		t.Errorf("refresh used %v; want the credential's token", got)
	}
	// The rotated token lives in the file; a restart uses it, not the
	// credential's, which the provider may have voided.
	if tf := f.stored(t); tf.RefreshToken != "refresh-1-SECRET" {
		t.Errorf("file refresh token %q", tf.RefreshToken)
	}
	f.clk.Advance(2 * time.Hour)
	if _, err := New(f.cfg).AccessToken(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := p.lastForm["refresh_token"]; got[0] != "refresh-1-SECRET" {
		t.Errorf("after restart the refresh used %v; want the rotated token", got)
	}
}

func TestWaitingForARefreshRespectsTheContext(t *testing.T) {
	p := newIdP(t)
	release := make(chan struct{})
	p.set(func(w http.ResponseWriter, r *http.Request) {
		<-release
		http.Error(w, "late", http.StatusServiceUnavailable)
	})
	defer close(release)
	f := newFixture(t, p.URL)
	f.store(t, "", 0)
	src := New(f.cfg)
	go src.AccessToken(context.Background())
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := src.AccessToken(ctx); err != context.DeadlineExceeded {
		t.Errorf("AccessToken while another refresh hangs = %v; want the context's deadline", err)
	}
}

func TestEarlyRenewalFailingDoesNotAskOnEveryConnection(t *testing.T) {
	p := newIdP(t)
	p.set(oauthError("temporarily_unavailable", 503))
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", 4*time.Minute)
	src := New(f.cfg)
	for range 10 { // IMAP, IDLE and SMTP connect
		if tok, err := src.AccessToken(t.Context()); err != nil || tok != "access-0-SECRET" {
			t.Fatalf("AccessToken = %q, %v", tok, err)
		}
	}
	if n := p.requests.Load(); n != 1 {
		t.Errorf("%d token requests; want 1 within 30 s", n)
	}
	f.clk.Advance(31 * time.Second)
	src.AccessToken(t.Context())
	if n := p.requests.Load(); n != 2 {
		t.Errorf("%d token requests after 31 s; want a second try", n)
	}
}

func TestInvalidGrantWhileAnotherProcessRotatedTheTokenUsesItsFile(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", -time.Minute)
	// holdover sync --once refreshes at the same moment and wins: our
	// refresh token is void by the time the answer comes.
	p.set(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(10 * time.Millisecond) // a distinct mtime
		if err := writeTokenFile(f.cfg.path(), tokenFile{AccessToken: "other-SECRET", RefreshToken: "refresh-o-SECRET", Expiry: f.clk.Now().Add(time.Hour)}); err != nil {
			t.Error(err)
		}
		oauthError("invalid_grant", 400)(w, r)
	})
	if tok, err := New(f.cfg).AccessToken(t.Context()); err != nil || tok != "other-SECRET" {
		t.Errorf("AccessToken = %q, %v; want the other process's token, not needs-login", tok, err)
	}
}

// The token of a login moments ago is the one the server refused: a
// refresh asks for another instead of handing it out again.
func TestRefreshRightAfterALoginAsksForANewToken(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	tf := tokenFile{AccessToken: "access-0-SECRET", TokenType: "Bearer", RefreshToken: "refresh-0-SECRET", Expiry: f.clk.Now().Add(time.Hour), SavedAt: f.clk.Now()}
	if err := writeTokenFile(f.cfg.path(), tf); err != nil {
		t.Fatal(err)
	}
	src := New(f.cfg)
	if a, err := src.AccessToken(t.Context()); err != nil || a != "access-0-SECRET" {
		t.Fatalf("AccessToken = %q, %v", a, err)
	}
	if b, err := src.Refresh(t.Context()); err != nil || b != "access-1-SECRET" || p.requests.Load() != 1 {
		t.Fatalf("Refresh = %q, %v after %d requests; want a new token", b, err, p.requests.Load())
	}
}

// Expiry answers for the token handed out last, so that a connector can
// end a session before its token runs out; for a token since replaced
// it does not guess.
func TestExpiryIsKnownForTheCurrentTokenOnly(t *testing.T) {
	p := newIdP(t)
	f := newFixture(t, p.URL)
	f.store(t, "access-0-SECRET", time.Hour)
	src := New(f.cfg)
	old, err := src.AccessToken(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if exp, ok := src.Expiry(old); !ok || !exp.Equal(f.clk.Now().Add(time.Hour)) {
		t.Fatalf("Expiry(current) = %v, %v; want %v", exp, ok, f.clk.Now().Add(time.Hour))
	}
	fresh, err := src.Refresh(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := src.Expiry(old); ok {
		t.Errorf("Expiry of a replaced token is known")
	}
	if exp, ok := src.Expiry(fresh); !ok || !exp.After(f.clk.Now()) {
		t.Errorf("Expiry(fresh) = %v, %v", exp, ok)
	}
	if _, ok := src.Expiry(""); ok {
		t.Errorf("Expiry of no token is known")
	}
}
