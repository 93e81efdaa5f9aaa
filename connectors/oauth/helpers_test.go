package oauth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	gosync "sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/clock"
)

// idp is a token endpoint of our own, for the faults a real identity
// provider shows rarely on demand (HTML pages, 500s, invalid_grant).
type idp struct {
	*httptest.Server
	requests atomic.Int64
	mu       gosync.Mutex
	answer   func(w http.ResponseWriter, r *http.Request) // nil: a fresh token
	rotation int
	lastForm map[string][]string
}

func newIdP(t *testing.T) *idp {
	t.Helper()
	p := &idp{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		r.ParseForm()
		p.mu.Lock()
		p.lastForm = r.PostForm
		answer := p.answer
		p.rotation++
		n := p.rotation
		p.mu.Unlock()
		if answer != nil {
			answer(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"access_token":"access-%d-SECRET","token_type":"Bearer","refresh_token":"refresh-%d-SECRET","expires_in":3600}`, n, n)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *idp) set(answer func(w http.ResponseWriter, r *http.Request)) {
	p.mu.Lock()
	p.answer = answer
	p.mu.Unlock()
}

func oauthError(code string, status int) func(http.ResponseWriter, *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":%q,"error_description":"told by the test"}`, code)
	}
}

// logBuffer collects debug logs so tests can look for secrets in them.
type logBuffer struct {
	mu  gosync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

type fixture struct {
	cfg  Config
	clk  *clock.Fake
	logs *logBuffer
}

func newFixture(t *testing.T, tokenURL string) *fixture {
	t.Helper()
	logs := &logBuffer{}
	clk := clock.NewFake(time.Now())
	f := &fixture{clk: clk, logs: logs, cfg: Config{
		Account: "work", ClientID: "client-id", TokenURL: tokenURL, AuthURL: tokenURL + "/authorize",
		ClientSecret: func(context.Context) (string, error) { return "client-SECRET", nil },
		Scopes:       []string{"mail"}, DataDir: t.TempDir(), Clock: clk,
		Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}}
	t.Cleanup(func() {
		if s := logs.String(); strings.Contains(s, "SECRET") {
			t.Errorf("a token or secret is in the debug log:\n%s", s)
		}
	})
	return f
}

// store writes a token file as a login would have.
func (f *fixture) store(t *testing.T, access string, expiresIn time.Duration) {
	t.Helper()
	tf := tokenFile{AccessToken: access, TokenType: "Bearer", RefreshToken: "refresh-0-SECRET", SavedAt: f.clk.Now().Add(-time.Hour)}
	if access != "" {
		tf.Expiry = f.clk.Now().Add(expiresIn)
	}
	if err := writeTokenFile(f.cfg.path(), tf); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) stored(t *testing.T) tokenFile {
	t.Helper()
	b, err := os.ReadFile(f.cfg.path())
	if err != nil {
		t.Fatal(err)
	}
	var tf tokenFile
	if err := json.Unmarshal(b, &tf); err != nil {
		t.Fatal(err)
	}
	return tf
}

// noSecret fails when err's text holds a token or secret.
func noSecret(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error text holds a secret: %v", err)
	}
}
