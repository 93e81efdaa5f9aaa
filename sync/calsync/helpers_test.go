package calsync_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/caldav"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/outbox"
)

// env is a Radicale, holdover's way to it through a fault proxy, a store,
// the engine, the local-change API and the outbox worker.
type env struct {
	rad    *testenv.Radicale
	proxy  *faultproxy.Proxy
	direct *caldav.Client // the tests' own view of the server (another client)
	remote *countingRemote
	db     *store.DB
	eng    *calsync.Engine
	local  *calsync.Local
	worker *outbox.Worker
	exec   *calsync.Executor
	cancel context.CancelFunc
	done   chan error
}

// countingRemote counts requests: a decorator over the real connector.
type countingRemote struct {
	hsync.CalendarRemote
	multiget, objects, changes, etags int
	stripSyncToken                    bool // act as a server without sync-collection
	// corrupt replaces what the server sends for these hrefs: data
	// Radicale itself would refuse to store, so only a decorator can
	// inject it.
	corrupt map[string][]byte
}

func (c *countingRemote) Calendars(ctx context.Context) ([]hsync.RemoteCalendar, error) {
	cals, err := c.CalendarRemote.Calendars(ctx)
	if c.stripSyncToken {
		for i := range cals {
			cals[i].SyncToken = ""
		}
	}
	return cals, err
}

// HintSyncTokens passes the engine's hint on; a server acted as without
// sync-tokens never lets the listing leave out getctag.
func (c *countingRemote) HintSyncTokens(all bool) {
	if h, ok := c.CalendarRemote.(hsync.CalendarHinter); ok {
		h.HintSyncTokens(all && !c.stripSyncToken)
	}
}

func (c *countingRemote) Changes(ctx context.Context, cal, token string) (hsync.CalChanges, error) {
	c.changes++
	return c.CalendarRemote.Changes(ctx, cal, token)
}

func (c *countingRemote) ETags(ctx context.Context, cal string) ([]hsync.ObjectRef, error) {
	c.etags++
	return c.CalendarRemote.ETags(ctx, cal)
}

func (c *countingRemote) Multiget(ctx context.Context, cal string, hrefs []string, fn func(hsync.CalObject) error) error {
	c.multiget++
	c.objects += len(hrefs)
	return c.CalendarRemote.Multiget(ctx, cal, hrefs, func(o hsync.CalObject) error {
		if bad, ok := c.corrupt[o.Href]; ok {
			o.Data = bad
		}
		return fn(o)
	})
}

func newEnv(t *testing.T, policy string) *env {
	t.Helper()
	e := &env{rad: testenv.StartRadicale(t)}
	var err error
	if e.proxy, err = faultproxy.New(strings.TrimSuffix(strings.TrimPrefix(e.rad.URL, "http://"), "/")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.proxy.Close() })
	pw := func(context.Context) (string, error) { return e.rad.Password, nil }
	e.direct, err = caldav.New(caldav.Config{URL: e.rad.URL + e.rad.User + "/", Username: e.rad.User, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	viaProxy, err := caldav.New(caldav.Config{URL: fmt.Sprintf("http://127.0.0.1:%d/%s/", e.proxy.Port(), e.rad.User), Username: e.rad.User, Password: pw, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.remote = &countingRemote{CalendarRemote: viaProxy}
	e.db, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.db.EnsureAccounts(context.Background(), []string{"work"})
	e.eng = calsync.New(calsync.Options{Account: "work", DB: e.db, Remote: e.remote, Batch: 50})
	e.exec = &calsync.Executor{DB: e.db, Account: "work", Remote: e.remote, Policy: policy}
	e.worker = outbox.New(outbox.Worker{DB: e.db, Account: "work", Service: "caldav", Kinds: outbox.ServiceKinds["caldav"],
		Exec: e.exec, Health: &hsync.Health{DB: e.db}, Policy: backoff.Policy{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond}})
	e.local = &calsync.Local{DB: e.db, Notify: func(string, string) { e.worker.Wake() }}
	return e
}

func (e *env) start(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	e.cancel, e.done = cancel, make(chan error, 1)
	go func() { e.done <- e.worker.Run(ctx) }()
	t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.cancel != nil {
		e.cancel()
		<-e.done
		e.cancel = nil
	}
}

func (e *env) sync(t *testing.T) calsync.Stats {
	t.Helper()
	st, err := e.eng.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return st
}

// href is the server path of an object of the test user's calendar.
func (e *env) href(cal, name string) string { return "/" + e.rad.User + "/" + cal + "/" + name }

// event is a minimal VEVENT object.
func event(uid, summary string, start time.Time) []byte {
	return []byte(fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:%s\r\nDTEND:%s\r\nSUMMARY:%s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
		uid, start.UTC().Format("20060102T150405Z"), start.Add(time.Hour).UTC().Format("20060102T150405Z"), summary))
}

// seed writes events straight into Radicale's storage (fast, as a
// provider's existing data).
func (e *env) seed(t *testing.T, cal string, n int, start time.Time) {
	t.Helper()
	dir := e.rad.CalendarDir(t, cal)
	for i := 0; i < n; i++ {
		uid := fmt.Sprintf("%s-%d@test", cal, i)
		if err := os.WriteFile(filepath.Join(dir, uid+".ics"), event(uid, fmt.Sprintf("%s event %d", cal, i), start.Add(time.Duration(i)*time.Hour)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// serverPut changes the server as another client would.
func (e *env) serverPut(t *testing.T, href string, data []byte) string {
	t.Helper()
	cond := hsync.PutCondition{Create: true}
	if cur, err := e.direct.Get(context.Background(), href); err == nil {
		cond = hsync.PutCondition{IfMatch: cur.ETag}
	}
	etag, err := e.direct.Put(context.Background(), href, data, cond)
	if err != nil {
		t.Fatalf("put %s: %v", href, err)
	}
	return etag
}

func (e *env) serverGet(t *testing.T, href string) (hsync.CalObject, bool) {
	t.Helper()
	o, err := e.direct.Get(context.Background(), href)
	if err != nil {
		if errors.Is(err, hsync.ErrObjectNotFound) {
			return o, false
		}
		t.Fatalf("get %s: %v", href, err)
	}
	return o, true
}

// objectByUID finds a stored object.
func (e *env) objectByUID(t *testing.T, uid string) store.CalObject {
	t.Helper()
	os, err := e.db.CalObjectsByUID(context.Background(), "work", uid)
	if err != nil || len(os) != 1 {
		t.Fatalf("object %s: %d found, %v", uid, len(os), err)
	}
	o, err := e.db.CalObjectByID(context.Background(), os[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func (e *env) count(t *testing.T) int {
	t.Helper()
	objs, err := e.db.CalObjectsInRange(context.Background(), store.CalRange{Account: "work", From: time.Unix(0, 0), To: time.Now().AddDate(10, 0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return len(objs)
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

func outboxStates(t *testing.T, db *store.DB) map[store.OutboxState]int {
	t.Helper()
	counts, err := db.OutboxCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return counts["work"]
}
