package httpapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
)

// fakeDaemon answers fixed documents: an IMAP outage with queued
// actions and a calendar conflict.
type fakeDaemon struct{ resolved []string }

func (f *fakeDaemon) Status(context.Context) (apiv1.Status, error) {
	started := time.Now().Add(-12 * time.Minute)
	out := &apiv1.Outage{ID: 1, Account: "work", Service: "imap", StartedAt: started, Queued: 3}
	svc := apiv1.ServiceStatus{Service: "imap", Kind: "mail", State: store.HealthDown, Outage: out}
	svc.Words = apiv1.ServiceWords(svc, time.Now())
	info := &control.DaemonInfo{Version: "test", StartedAt: started, Reload: control.ReloadState{OK: true},
		Listeners: []control.Listener{{Name: "smtp", Addr: "127.0.0.1:2525"}, {Name: "imap", Addr: "127.0.0.1:1143"}}}
	return apiv1.Status{Daemon: apiv1.DaemonStatus{Running: true, Info: info}, Accounts: []apiv1.AccountStatus{{Name: "work", Configured: true, Services: []apiv1.ServiceStatus{svc},
		Queue: []apiv1.QueueCount{{Words: "waiting", N: 3}}, OldestWaiting: &started}}}, nil
}
func (f *fakeDaemon) Actions(context.Context, apiv1.ActionFilter) ([]apiv1.Action, error) {
	return []apiv1.Action{{ID: 7, Account: "work", Kind: "mail.flags", State: "failed", Words: "waiting", CreatedAt: time.Now()}}, nil
}
func (f *fakeDaemon) Outages(context.Context, int) ([]apiv1.Outage, error) { return nil, nil }
func (f *fakeDaemon) Conflicts(context.Context, store.ConflictFilter) ([]apiv1.Conflict, error) {
	return []apiv1.Conflict{{ID: 4, Account: "work", Kind: "calendar", Summary: `"Standup <b>"`, LocalSummary: "yours: 10:00", RemoteSummary: "the server's: 11:00", Takes: []string{"local", "remote"}}}, nil
}
func (f *fakeDaemon) Resolve(_ context.Context, id int64, take string) (apiv1.Conflict, error) {
	f.resolved = append(f.resolved, take)
	return apiv1.Conflict{ID: id, Resolution: take}, nil
}
func (f *fakeDaemon) Retry(context.Context, int64) error  { return nil }
func (f *fakeDaemon) Cancel(context.Context, int64) error { return nil }
func (f *fakeDaemon) SyncNow(context.Context, string, control.SyncOptions) (any, error) {
	return []string{}, nil
}

func TestPageShowsTheOutageTheQueueAndTheConflict(t *testing.T) {
	s := New(Options{Metrics: prometheus.NewRegistry(), Ready: func() bool { return true }, Token: testToken, Daemon: &fakeDaemon{}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	resp, body := do(t, ts, req{path: "/", header: bearer(testToken)})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page = %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"down since", "(12 min)", "3 queued during this outage", "3 waiting", "oldest queued 12 min ago",
		"Keep mine", "Keep the server's", "/api/v1/conflicts/4/resolve?take=local", "Standup &lt;b&gt;", "/api/v1/outbox/7/retry", "Sync now", "flag change",
		"mail (IMAP) on <code>127.0.0.1:1143</code>", "sending (SMTP) on <code>127.0.0.1:2525</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(body, "failed") {
		t.Error("the page says failed")
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Error("no CSP")
	}
	if resp, _ := do(t, ts, req{path: "/static/page.js", header: bearer(testToken)}); resp.StatusCode != 200 {
		t.Fatalf("page.js = %d", resp.StatusCode)
	}
}
