package caldavd_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/caldav"
	"github.com/holdover/holdover/endpoints/caldavd"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/outbox"
)

const (
	localUser = "me"
	localPass = "local-secret"
	account   = "work"
)

var day = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

// env is a Radicale (the provider) behind a fault proxy, the calendar
// engine and outbox worker mirroring it into a store, and holdover's
// CalDAV endpoint over that store: what the daemon wires, in one test.
type env struct {
	rad    *testenv.Radicale
	proxy  *faultproxy.Proxy
	direct *caldav.Client // another client of the provider
	db     *store.DB
	eng    *calsync.Engine
	worker *outbox.Worker
	local  *calsync.Local
	url    string // the endpoint's base URL, http://127.0.0.1:port
	cancel context.CancelFunc
	done   chan error
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{rad: testenv.StartRadicale(t)}
	var err error
	if e.proxy, err = faultproxy.New(strings.TrimSuffix(strings.TrimPrefix(e.rad.URL, "http://"), "/")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.proxy.Close() })
	pw := func(context.Context) (string, error) { return e.rad.Password, nil }
	if e.direct, err = caldav.New(caldav.Config{URL: e.rad.URL + e.rad.User + "/", Username: e.rad.User, Password: pw}); err != nil {
		t.Fatal(err)
	}
	remote, err := caldav.New(caldav.Config{URL: fmt.Sprintf("http://127.0.0.1:%d/%s/", e.proxy.Port(), e.rad.User), Username: e.rad.User, Password: pw, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if e.db, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.db.EnsureAccounts(context.Background(), []string{account})
	e.eng = calsync.New(calsync.Options{Account: account, DB: e.db, Remote: remote})
	e.worker = outbox.New(outbox.Worker{DB: e.db, Account: account, Service: "caldav", Kinds: outbox.ServiceKinds["caldav"],
		Exec: &calsync.Executor{DB: e.db, Account: account, Remote: remote}, Health: &hsync.Health{DB: e.db},
		Policy: backoff.Policy{Base: 20 * time.Millisecond, Cap: 200 * time.Millisecond}})
	e.local = &calsync.Local{DB: e.db, Notify: func(string, string) { e.worker.Wake() }}
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.worker.Run(ctx) }()
	t.Cleanup(func() { e.cancel(); <-e.done })
	e.url = startEndpoint(t, e.db, e.local)
	return e
}

// startEndpoint serves the endpoint on a loopback port with the test
// login; it returns the base URL.
func startEndpoint(t *testing.T, db *store.DB, local *calsync.Local) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := caldavd.New(caldavd.Options{DB: db, Local: local, FailDelay: time.Millisecond,
		Auth: locallogin.Static(map[string]locallogin.Login{localUser: {Account: account, Password: func(context.Context) (string, error) { return localPass, nil }}})})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

func (e *env) sync(t *testing.T) calsync.Stats {
	t.Helper()
	st, err := e.eng.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return st
}

// seed writes events straight into Radicale's storage.
func (e *env) seed(t *testing.T, cal string, n int) {
	t.Helper()
	dir := e.rad.CalendarDir(t, cal)
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("%s-%d@test", cal, i)
		if err := os.WriteFile(filepath.Join(dir, uid+".ics"), event(uid, fmt.Sprintf("%s event %d", cal, i), day.Add(time.Duration(i)*time.Hour)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// event is a minimal VEVENT object.
func event(uid, summary string, start time.Time) []byte {
	return []byte(fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		uid, start.UTC().Format("20060102T150405Z"), start.Add(time.Hour).UTC().Format("20060102T150405Z"), summary))
}

// calendarURL is the endpoint's URL of the mirrored calendar named name.
func (e *env) calendarURL(t *testing.T, name string) string {
	t.Helper()
	cals, err := e.db.Calendars(context.Background(), account)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cals {
		if c.Name == name || strings.HasSuffix(c.Href, "/"+name+"/") {
			return fmt.Sprintf("%s/%s/calendars/%d/", e.url, account, c.ID)
		}
	}
	t.Fatalf("no calendar %q in %+v", name, cals)
	return ""
}

// do sends one request to the endpoint as the test login.
func do(t *testing.T, method, url string, body string, header ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(localUser, localPass)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// serverSummary is the SUMMARY of an object at the provider ("" when it
// has none there).
func (e *env) serverObject(t *testing.T, cal, name string) (string, bool) {
	t.Helper()
	o, err := e.direct.Get(context.Background(), "/"+e.rad.User+"/"+cal+"/"+name)
	if err != nil {
		return "", false
	}
	return string(o.Data), true
}

// outboxDone reports whether the account's outbox has nothing open.
func (e *env) outboxDone(t *testing.T) bool {
	t.Helper()
	counts, err := e.db.OutboxCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c := counts[account]
	return c[store.OutboxPending]+c[store.OutboxInflight]+c[store.OutboxFailed] == 0
}
