package httpapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

const testToken = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

// accessServer serves a Server with no daemon behind it on loopback.
func accessServer(t *testing.T, public bool) (*Server, *httptest.Server) {
	t.Helper()
	s := New(Options{Metrics: prometheus.NewRegistry(), Ready: func() bool { return true }, Token: testToken,
		MetricsPublic: func() bool { return public }})
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, ts
}

type req struct {
	method, path string
	header       map[string]string
	host         string
}

func do(t *testing.T, ts *httptest.Server, r req) (*http.Response, string) {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodGet
	}
	hr, err := http.NewRequest(r.method, ts.URL+r.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	if r.host != "" {
		hr.Host = r.host
	}
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestAccess(t *testing.T) {
	_, ts := accessServer(t, false)
	for _, tc := range []struct {
		name string
		req  req
		code int
		body string // a substring, "" for any
	}{
		{"liveness needs no token", req{path: "/healthz"}, 200, "ok"},
		{"readiness needs no token", req{path: "/readyz"}, 200, "ready"},
		{"metrics without a token is a bare 401", req{path: "/metrics"}, 401, `"error": "unauthorized"`},
		{"a wrong token reads exactly like a missing one", req{path: "/metrics", header: bearer(strings.Repeat("0", 64))}, 401, `"error": "unauthorized"`},
		{"another scheme is refused", req{path: "/metrics", header: map[string]string{"Authorization": "Basic " + testToken}}, 401, ""},
		{"the token opens metrics", req{path: "/metrics", header: bearer(testToken)}, 200, ""},
		{"an unknown route is 404 with a JSON error", req{path: "/nope", header: bearer(testToken)}, 404, `"error"`},
		{"an unknown route without a token says nothing about it", req{path: "/nope"}, 401, ""},
		{"a foreign Host on loopback is refused (DNS rebinding)", req{path: "/metrics", header: bearer(testToken), host: "evil.example:7878"}, 403, ""},
		{"a foreign Host is refused on the open endpoints too", req{path: "/healthz", host: "evil.example"}, 403, ""},
		{"localhost is a loopback host", req{path: "/healthz", host: "localhost:7878"}, 200, ""},
		{"a cross-origin POST is refused even with the token", req{method: "POST", path: "/api/v1/sync-now", header: map[string]string{
			"Authorization": "Bearer " + testToken, "Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}}, 403, "cross-origin"},
		{"a login code that was never issued opens nothing", req{path: "/login?code=abc"}, 401, ""},
		{"a browser without a session gets a page saying how to sign in", req{path: "/", header: map[string]string{"Accept": "text/html"}}, 401, "holdover open"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(t, ts, tc.req)
			if resp.StatusCode != tc.code || !strings.Contains(body, tc.body) {
				t.Fatalf("%s %s = %d %q, want %d with %q", tc.req.method, tc.req.path, resp.StatusCode, body, tc.code, tc.body)
			}
			if tc.code == 401 && strings.Contains(body, testToken[:8]) {
				t.Fatal("a 401 shows the token")
			}
		})
	}
}

func TestPublicMetricsOpenOnlyMetrics(t *testing.T) {
	_, ts := accessServer(t, true)
	if resp, _ := do(t, ts, req{path: "/metrics"}); resp.StatusCode != 200 {
		t.Fatalf("/metrics with metrics_public = %d", resp.StatusCode)
	}
	if resp, _ := do(t, ts, req{path: "/api/v1/status"}); resp.StatusCode != 401 {
		t.Fatalf("/api/v1/status with metrics_public = %d, want 401", resp.StatusCode)
	}
}

func TestLoginURLOpensOneSessionOnce(t *testing.T) {
	s, ts := accessServer(t, false)
	u := s.LoginURL(strings.TrimPrefix(ts.URL, "http://"))
	path := u[strings.Index(u, "/login"):]
	resp, _ := do(t, ts, req{path: path})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login = %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" {
		t.Fatalf("session cookie = %+v, want HttpOnly, SameSite=Strict", session)
	}
	if again, _ := do(t, ts, req{path: path}); again.StatusCode != 401 {
		t.Fatalf("the login URL worked twice: %d", again.StatusCode)
	}
	cookie := map[string]string{"Cookie": sessionCookie + "=" + session.Value}
	if resp, _ := do(t, ts, req{path: "/metrics", header: cookie}); resp.StatusCode != 200 {
		t.Fatalf("/metrics with the session = %d", resp.StatusCode)
	}
	if resp, _ := do(t, ts, req{path: "/metrics", header: map[string]string{"Cookie": sessionCookie + "=" + strings.Repeat("a", 64)}}); resp.StatusCode != 401 {
		t.Fatalf("/metrics with a made-up session = %d", resp.StatusCode)
	}
	// A cookie alone never changes anything: a POST must show it comes
	// from our page.
	if resp, body := do(t, ts, req{method: "POST", path: "/api/v1/sync-now", header: cookie}); resp.StatusCode != 403 {
		t.Fatalf("POST with only the cookie = %d %s", resp.StatusCode, body)
	}
	sameOrigin := map[string]string{"Cookie": cookie["Cookie"], "Sec-Fetch-Site": "same-origin", "Origin": ts.URL}
	if resp, body := do(t, ts, req{method: "POST", path: "/nope", header: sameOrigin}); resp.StatusCode != 404 {
		t.Fatalf("same-origin POST = %d %s, want it through to routing (404)", resp.StatusCode, body)
	}
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	tok, replaced, err := LoadOrCreateToken(dir)
	if err != nil || replaced {
		t.Fatal(err, replaced)
	}
	fi, err := os.Stat(filepath.Join(dir, TokenFile))
	if err != nil || fi.Mode().Perm() != 0o600 || len(tok) != 64 {
		t.Fatalf("token file %v %v, token of %d characters", fi.Mode(), err, len(tok))
	}
	again, _, err := LoadOrCreateToken(dir)
	if err != nil || again != tok {
		t.Fatalf("the token changed at the second start: %v", err)
	}
	os.Chmod(filepath.Join(dir, TokenFile), 0o644)
	fresh, replaced, err := LoadOrCreateToken(dir)
	if err != nil || !replaced || fresh == tok {
		t.Fatalf("a token others could read was kept: %v %v", replaced, err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, TokenFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("new token file mode %v", fi.Mode())
	}
}
