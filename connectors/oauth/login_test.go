package oauth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

// startOIDC runs a real OIDC server (authorization code + PKCE,
// refresh) on loopback.
func startOIDC(t *testing.T) (*mockoidc.MockOIDC, Config) {
	t.Helper()
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	secret := m.ClientSecret
	return m, Config{
		Account: "work", ClientID: m.ClientID,
		ClientSecret: func(context.Context) (string, error) { return secret, nil },
		AuthURL:      m.AuthorizationEndpoint(), TokenURL: m.TokenEndpoint(),
		Scopes: []string{"openid", "email"}, DataDir: t.TempDir(),
	}
}

// noRedirect is the test's browser: it stops at each redirect so the
// test sees where the identity provider sends it.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}

// browser plays the person: it follows the authorization URL to the
// identity provider, then lands on the redirect (rewritten by edit).
func browser(t *testing.T, edit func(redirect *url.URL)) (func(string) error, <-chan string) {
	pages := make(chan string, 1)
	return func(authURL string) error {
		go func() {
			resp, err := noRedirect.Get(authURL)
			if err != nil {
				pages <- "authorize: " + err.Error()
				return
			}
			resp.Body.Close()
			loc, err := url.Parse(resp.Header.Get("Location"))
			if err != nil || resp.StatusCode != http.StatusFound {
				pages <- fmt.Sprintf("authorize answered %s, Location %q", resp.Status, resp.Header.Get("Location"))
				return
			}
			if edit != nil {
				edit(loc)
			}
			resp, err = noRedirect.Get(loc.String())
			if err != nil {
				pages <- "redirect: " + err.Error()
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			pages <- string(b)
		}()
		return nil
	}, pages
}

func TestLoginBrowserEndToEndWithPKCE(t *testing.T) {
	m, cfg := startOIDC(t)
	var seen *url.URL
	open, pages := browser(t, func(u *url.URL) { seen = u })
	var out strings.Builder
	if err := LoginBrowser(t.Context(), cfg, Browser{Open: open, Out: &out}); err != nil {
		t.Fatalf("LoginBrowser: %v\noutput: %s", err, out.String())
	}
	if page := <-pages; !strings.Contains(page, "signed in") {
		t.Errorf("the browser's page: %q", page)
	}
	if seen.Hostname() != "127.0.0.1" || seen.Port() == "" {
		t.Errorf("redirect went to %s; want a loopback listener on 127.0.0.1 with a picked port", seen)
	}
	if !strings.Contains(out.String(), m.AuthorizationEndpoint()) || !strings.Contains(out.String(), "code_challenge_method=S256") {
		t.Errorf("printed output lacks the authorization URL with PKCE:\n%s", out.String())
	}
	info := Stat(cfg.DataDir, "work")
	if !info.SignedIn || info.Expiry.IsZero() {
		t.Fatalf("after login Stat = %+v", info)
	}
	// The stored refresh token works against the same server.
	cfg.Clock = nil
	src := New(cfg)
	tok, err := src.Refresh(t.Context())
	if err != nil || tok == "" {
		t.Fatalf("refresh with the stored sign-in: %q, %v", tok, err)
	}
	if strings.Contains(out.String(), tok) {
		t.Error("the login printed a token")
	}
}

func TestLoginBrowserRefusesAWrongState(t *testing.T) {
	_, cfg := startOIDC(t)
	open, pages := browser(t, func(u *url.URL) {
		q := u.Query()
		q.Set("state", "forged")
		u.RawQuery = q.Encode()
	})
	err := LoginBrowser(t.Context(), cfg, Browser{Open: open, Out: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "state does not match") {
		t.Fatalf("LoginBrowser = %v; want the state refused", err)
	}
	if page := <-pages; !strings.Contains(page, "state does not match") {
		t.Errorf("the browser's page: %q", page)
	}
	if Stat(cfg.DataDir, "work").SignedIn {
		t.Error("a sign-in was stored")
	}
}

func TestLoginBrowserAccessDeniedIsOneLine(t *testing.T) {
	_, cfg := startOIDC(t)
	// The person declines: the identity provider redirects with an error.
	open := func(authURL string) error {
		u, _ := url.Parse(authURL)
		redirect, _ := url.Parse(u.Query().Get("redirect_uri"))
		redirect.RawQuery = url.Values{"error": {"access_denied"}, "error_description": {"The user declined.\nTrace: 42"}, "state": {u.Query().Get("state")}}.Encode()
		go noRedirect.Get(redirect.String())
		return nil
	}
	err := LoginBrowser(t.Context(), cfg, Browser{Open: open, Out: io.Discard})
	if err == nil || !strings.HasPrefix(err.Error(), "sign-in refused (access_denied)") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("LoginBrowser = %q; want one line starting sign-in refused (access_denied)", err)
	}
}

func TestLoginBrowserWithoutABrowserPrintsTheURL(t *testing.T) {
	_, cfg := startOIDC(t)
	var out strings.Builder
	open := func(string) error { return errors.New("no display") }
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err := LoginBrowser(ctx, cfg, Browser{Open: open, Out: &out})
	if err == nil || !strings.Contains(out.String(), "http://127.0.0.1:") || !strings.Contains(out.String(), "cannot start a browser") {
		t.Errorf("err %v, output:\n%s", err, out.String())
	}
}

// deviceIdP is an RFC 8628 endpoint pair of our own (mockoidc has no
// device grant): it answers the polls from script, in order.
type deviceIdP struct {
	*httptest.Server
	mu     gosync.Mutex
	script []string // "authorization_pending", "slow_down", "expired_token", "" (success)
	polls  []time.Time
}

func newDeviceIdP(t *testing.T, interval, expiresIn int, script ...string) *deviceIdP {
	d := &deviceIdP{script: script}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /device", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"device_code":"dev-SECRET","user_code":"ABCD-EFGH","verification_uri":"https://idp.example/device","interval":%d,"expires_in":%d}`, interval, expiresIn)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		d.mu.Lock()
		d.polls = append(d.polls, time.Now())
		next := "authorization_pending"
		if len(d.script) > 0 {
			next, d.script = d.script[0], d.script[1:]
		}
		d.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.PostForm.Get("device_code") != "dev-SECRET" {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant"}`)
			return
		}
		if next != "" {
			w.WriteHeader(400)
			fmt.Fprintf(w, `{"error":%q}`, next)
			return
		}
		fmt.Fprint(w, `{"access_token":"access-d-SECRET","token_type":"Bearer","refresh_token":"refresh-d-SECRET","expires_in":3600}`)
	})
	d.Server = httptest.NewServer(mux)
	t.Cleanup(d.Close)
	return d
}

func deviceConfig(t *testing.T, d *deviceIdP) Config {
	return Config{Account: "work", ClientID: "client-id", TokenURL: d.URL + "/token", DeviceURL: d.URL + "/device", AuthURL: d.URL + "/authorize", Scopes: []string{"mail"}, DataDir: t.TempDir()}
}

func TestLoginDevicePollsThroughPendingAndHonoursSlowDown(t *testing.T) {
	if testing.Short() {
		t.Skip("waits out a slow_down (6 s)")
	}
	d := newDeviceIdP(t, 1, 60, "authorization_pending", "slow_down", "")
	cfg := deviceConfig(t, d)
	var out strings.Builder
	if err := LoginDevice(t.Context(), cfg, &out); err != nil {
		t.Fatalf("LoginDevice: %v", err)
	}
	if !strings.Contains(out.String(), "ABCD-EFGH") || !strings.Contains(out.String(), "https://idp.example/device") {
		t.Errorf("output lacks the code or URL:\n%s", out.String())
	}
	if strings.Contains(out.String(), "SECRET") {
		t.Errorf("output shows a secret:\n%s", out.String())
	}
	d.mu.Lock()
	polls := d.polls
	d.mu.Unlock()
	if len(polls) != 3 {
		t.Fatalf("%d polls; want 3", len(polls))
	}
	if gap := polls[1].Sub(polls[0]); gap < 900*time.Millisecond {
		t.Errorf("polled again after %s; the interval is 1 s", gap)
	}
	if gap := polls[2].Sub(polls[1]); gap < 5900*time.Millisecond {
		t.Errorf("polled again %s after slow_down; the interval must grow by 5 s", gap)
	}
	if info := Stat(cfg.DataDir, "work"); !info.SignedIn {
		t.Error("no sign-in stored")
	}
}

func TestLoginDeviceCodeExpires(t *testing.T) {
	d := newDeviceIdP(t, 1, 2) // pending forever, the code lives 2 s
	err := LoginDevice(t.Context(), deviceConfig(t, d), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the code expired") {
		t.Fatalf("LoginDevice = %v; want the code expired", err)
	}
}

func TestLoginDeviceDenied(t *testing.T) {
	d := newDeviceIdP(t, 1, 60, "access_denied")
	err := LoginDevice(t.Context(), deviceConfig(t, d), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "access_denied") {
		t.Fatalf("LoginDevice = %v; want access_denied", err)
	}
}
