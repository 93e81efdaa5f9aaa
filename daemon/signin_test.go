package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/oauth"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// tokenEndpoint is an identity provider's token endpoint whose answer
// the test switches, counting requests.
type tokenEndpoint struct {
	*httptest.Server
	requests atomic.Int64
	mode     atomic.Value // "ok", "invalid_grant", "down"
}

func newTokenEndpoint(t *testing.T) *tokenEndpoint {
	e := &tokenEndpoint{}
	e.mode.Store("ok")
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		switch e.mode.Load() {
		case "invalid_grant":
			w.WriteHeader(400)
			fmt.Fprint(w, `{"error":"invalid_grant","error_description":"AADSTS50173: the grant was revoked"}`)
		case "down":
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			fmt.Fprintf(w, `{"access_token":"at-%d-SECRET","token_type":"Bearer","refresh_token":"rt-%d-SECRET","expires_in":3600}`, e.requests.Load(), e.requests.Load())
		}
	}))
	t.Cleanup(e.Close)
	return e
}

// signingExecutor stands for the SMTP connector: each attempt signs in
// with the account's token source first, as XOAUTH2 does.
type signingExecutor struct {
	src      *oauth.Source
	attempts atomic.Int64
}

func (x *signingExecutor) Execute(ctx context.Context, row store.OutboxRow) (func(*store.Tx) error, error) {
	x.attempts.Add(1)
	if _, err := x.src.AccessToken(ctx); err != nil {
		return nil, err
	}
	return nil, nil
}

func (x *signingExecutor) Close() error { return nil }

type signInFixture struct {
	db      *store.DB
	dataDir string
	idp     *tokenEndpoint
	exec    *signingExecutor
	worker  *outbox.Worker
	cfg     *config.Config
}

func newSignInFixture(t *testing.T) *signInFixture {
	t.Helper()
	ctx := t.Context()
	f := &signInFixture{dataDir: t.TempDir(), idp: newTokenEndpoint(t)}
	var err error
	f.db, err = store.Open(ctx, filepath.Join(f.dataDir, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.db.Close() })
	if err := f.db.EnsureAccounts(ctx, []string{"work"}); err != nil {
		t.Fatal(err)
	}
	o := &config.OAuth2{Provider: "custom", ClientID: "cid", AuthURL: f.idp.URL + "/authorize", TokenURL: f.idp.URL + "/token", Scopes: []string{"mail"}}
	f.cfg = &config.Config{DataDir: f.dataDir, Accounts: []config.Account{{Name: "work", Mail: &config.Mail{
		SMTP: &config.Server{Host: "smtp.example.com", Port: 465, TLS: "tls", Username: "me", OAuth2: o}}}}}
	f.exec = &signingExecutor{src: signInSource(f.dataDir, f.cfg.Accounts[0], nil)}
	f.worker = outbox.New(outbox.Worker{
		DB: f.db, Account: "work", Service: "smtp", Kinds: outbox.ServiceKinds["smtp"], Exec: f.exec,
		Health: &hsync.Health{DB: f.db}, Poll: 20 * time.Millisecond,
		Policy: backoff.Policy{Base: time.Millisecond, Cap: 20 * time.Millisecond, Rand: func() float64 { return 0.5 }},
	})
	return f
}

// signIn stores a sign-in whose access token expired, as a login an hour
// ago would have left it.
func (f *signInFixture) signIn(t *testing.T) {
	t.Helper()
	path := oauth.TokenPath(f.dataDir, "work")
	os.MkdirAll(filepath.Dir(path), 0o700)
	b, _ := json.Marshal(map[string]any{"access_token": "old-SECRET", "refresh_token": "rt-0-SECRET", "expiry": time.Now().Add(-time.Minute)})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (f *signInFixture) queue(t *testing.T, n int) {
	t.Helper()
	err := f.db.Write(t.Context(), func(tx *store.Tx) error {
		for i := range n {
			if _, err := tx.EnqueueOutbox(t.Context(), store.OutboxAction{Account: "work", Kind: outbox.KindSend, TargetKey: fmt.Sprintf("send:%d", i), Payload: []byte("{}")}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// start runs the worker until the test ends.
func (f *signInFixture) start(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.worker.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// waiting counts the actions not done yet (one may be in flight).
func (f *signInFixture) waiting(t *testing.T) int {
	rows, err := f.db.ListOutbox(t.Context(), store.OutboxFilter{Account: "work"})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range rows {
		if r.State == store.OutboxFailed || r.State == store.OutboxPending || r.State == store.OutboxInflight {
			n++
		}
	}
	return n
}

// eventually waits up to 3 s for cond.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (f *signInFixture) count(t *testing.T, state store.OutboxState) int {
	rows, err := f.db.ListOutbox(t.Context(), store.OutboxFilter{Account: "work", State: state})
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

func (f *signInFixture) smtpStatus(t *testing.T) ServiceStatus {
	t.Helper()
	st, err := collectStatus(t.Context(), f.cfg, f.db, DaemonStatus{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(st)
	if strings.Contains(string(b), "SECRET") {
		t.Errorf("status --json holds a token: %s", b)
	}
	return st.Accounts[0].Services[0]
}

func TestRevokedSignInNeedsLoginWithoutARetryStormAndALoginDrainsTheQueue(t *testing.T) {
	f := newSignInFixture(t)
	f.signIn(t)
	f.idp.mode.Store("invalid_grant")
	f.queue(t, 3)
	f.start(t)
	time.Sleep(400 * time.Millisecond) // the worker retries every 20 ms meanwhile

	if n := f.idp.requests.Load(); n != 1 {
		t.Errorf("%d token requests in 400 ms of retries (%d attempts); want 1", n, f.exec.attempts.Load())
	}
	if f.exec.attempts.Load() < 3 || f.waiting(t) != 3 {
		t.Errorf("%d attempts, %d of 3 actions kept; want every action tried and kept", f.exec.attempts.Load(), f.waiting(t))
	}
	ss := f.smtpStatus(t)
	if !ss.NeedsLogin || ss.Action != "holdover account login work" || ss.State != store.HealthNeedsLogin || ss.Outage != nil {
		t.Errorf("status = %+v; want needs-login (its own state, no outage) naming the command", ss)
	}
	if ss.Words != "needs sign-in: run holdover account login work" {
		t.Errorf("words %q", ss.Words)
	}
	if outages, _ := f.db.Outages(t.Context(), 0); len(outages) != 0 {
		t.Errorf("needs-login opened an outage: %+v", outages)
	}

	// holdover account login stores a new sign-in; the daemon expedites.
	f.idp.mode.Store("ok")
	f.signIn(t)
	if _, err := f.db.ExpediteFailed(t.Context(), "work", outbox.ServiceKinds["smtp"]); err != nil {
		t.Fatal(err)
	}
	f.worker.Wake()
	eventually(t, "the queue to drain after the login", func() bool { return f.count(t, store.OutboxDone) == 3 })
	if ss := f.smtpStatus(t); ss.NeedsLogin || ss.State != store.HealthUp {
		t.Errorf("after login status = %+v; want up", ss)
	}
	if n := f.idp.requests.Load(); n != 2 {
		t.Errorf("%d token requests in all; want 2 (the refused one, one refresh)", n)
	}
	f.assertNoSecretInDB(t)
}

func TestIdentityProviderDownIsATransientOutageThatEndsByItself(t *testing.T) {
	f := newSignInFixture(t)
	f.signIn(t)
	f.idp.mode.Store("down")
	f.queue(t, 2)
	f.start(t)
	eventually(t, "an outage", func() bool { return f.smtpStatus(t).Outage != nil })
	ss := f.smtpStatus(t)
	if ss.Outage == nil || !strings.Contains(ss.Outage.Cause, "identity provider unreachable: the token endpoint answered 502") || ss.NeedsLogin {
		t.Fatalf("status = %+v; want an outage caused by the identity provider", ss)
	}
	if done, waiting := f.count(t, store.OutboxDone), f.waiting(t); done != 0 || waiting != 2 {
		t.Errorf("queue during the outage: %d done, %d waiting; want 0, 2", done, waiting)
	}
	f.idp.mode.Store("ok") // no user action: the probes find it back
	eventually(t, "the queue to drain", func() bool { return f.count(t, store.OutboxDone) == 2 })
	eventually(t, "the outage to close with both replays", func() bool {
		o, _ := f.db.Outages(t.Context(), 0)
		return len(o) == 1 && !o[0].Open() && o[0].Replayed == 2
	})
	outages, _ := f.db.Outages(t.Context(), 0)
	if len(outages) != 1 || outages[0].Open() || outages[0].Queued != 2 || outages[0].Replayed != 2 {
		t.Errorf("outages = %+v; want one closed with 2 queued, 2 replayed", outages)
	}
	f.assertNoSecretInDB(t)
}

// assertNoSecretInDB dumps every table's text and looks for tokens.
func (f *signInFixture) assertNoSecretInDB(t *testing.T) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dataDir, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(filepath.Join(f.dataDir, "holdover.db-wal"))
	if strings.Contains(string(b)+string(wal), "SECRET") {
		t.Error("the database holds a token")
	}
}

// holdover account login tells the running daemon over the control
// socket; an action parked until the login is tried again at once.
func TestSignedInOverTheControlSocketResumesTheParkedQueue(t *testing.T) {
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	text := "data_dir: " + dataDir + "\nlisten: {http: \"\", smtp: \"\"}\naccounts:\n  - name: work\n    mail:\n      smtp: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}\n"
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, cfgPath)
	ctx := t.Context()
	var id int64
	err := r.d.db.Write(ctx, func(tx *store.Tx) error {
		var err error
		if id, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: outbox.KindSend, TargetKey: "send:1", Payload: []byte("{}")}); err != nil {
			return err
		}
		return tx.FinishOutbox(ctx, id, store.OutboxFailed, "needs-login: …", time.Now().Add(time.Hour))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := control.NewClient(filepath.Join(dataDir, "holdover.sock")).SignedIn(ctx, "work"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the parked action to be tried again", func() bool {
		row, err := r.d.db.OutboxRow(ctx, id)
		return err == nil && row.Attempts > 0 && !strings.HasPrefix(row.LastError, "needs-login")
	})
}
