package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
	"github.com/holdover/holdover/sync/outbox"
)

type env struct {
	d      *testenv.Dovecot
	c      *imapclient.Client // direct, for seeding and checking
	proxy  *faultproxy.Proxy  // holdover's way to the server
	db     *store.DB
	eng    *mailsync.Engine
	local  *outbox.Local
	worker *outbox.Worker
	cancel context.CancelFunc
	done   chan error
}

func setup(t *testing.T, n int) *env {
	t.Helper()
	e := &env{d: testenv.StartDovecot(t)}
	e.c = e.d.Client(t)
	for i := 0; i < n; i++ {
		testenv.Append(t, e.c, "INBOX", []byte(fmt.Sprintf("From: a@example.com\r\nSubject: m%d\r\nMessage-ID: <ob-%d@example.com>\r\n\r\nbody %d\r\n", i, i, i)), time.Time{})
	}
	var err error
	if e.proxy, err = faultproxy.New(e.d.Addr()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.proxy.Close() })
	cfg := imapconn.Config{Host: "127.0.0.1", Port: e.proxy.Port(), TLS: "none", Username: e.d.User,
		Password: func(context.Context) (string, error) { return e.d.Password, nil }, DialTimeout: 2 * time.Second}
	e.db, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.db.EnsureAccounts(context.Background(), []string{"work"})
	e.eng = mailsync.New(mailsync.Options{Account: "work", DB: e.db, SpoolDir: t.TempDir(),
		Dial: func(ctx context.Context) (hsync.MailRemote, error) { return imapconn.Dial(ctx, cfg) }})
	t.Cleanup(func() { e.eng.Close() })
	e.sync(t)
	e.worker = outbox.New(outbox.Worker{DB: e.db, Account: "work", Service: "imap", Kinds: outbox.ServiceKinds["imap"],
		Exec:   &outbox.IMAPExecutor{DB: e.db, Account: "work", Dial: func(ctx context.Context) (hsync.MailWriter, error) { return imapconn.Dial(ctx, cfg) }},
		Health: &hsync.Health{DB: e.db}, Policy: backoff.Policy{Base: 20 * time.Millisecond, Cap: 100 * time.Millisecond}})
	e.local = &outbox.Local{DB: e.db, SpoolDir: t.TempDir(), Notify: func(string, string) { e.worker.Wake() }}
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

func (e *env) sync(t *testing.T) mailsync.Stats {
	t.Helper()
	st, err := e.eng.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return st
}

// message finds a stored message by subject.
func (e *env) message(t *testing.T, subject string) store.MailMessage {
	t.Helper()
	msgs, err := e.db.ListMailMessages(context.Background(), store.MailFilter{Account: "work"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		if m.Subject == subject {
			return m
		}
	}
	t.Fatalf("no message %q", subject)
	return store.MailMessage{}
}

// serverFlags returns the server's flags for a Message-ID in a folder, or
// nil when it is not there.
func (e *env) serverFlags(t *testing.T, folder, msgID string) []string {
	t.Helper()
	if _, err := e.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	defer func() { e.c.Unselect().Wait() }()
	data, err := e.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}}}, nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	uids := data.AllUIDs()
	if len(uids) == 0 {
		return nil
	}
	if len(uids) > 1 {
		t.Fatalf("%s: %d copies of %s", folder, len(uids), msgID)
	}
	var set imap.UIDSet
	set.AddNum(uids...)
	msgs, err := e.c.Fetch(set, &imap.FetchOptions{Flags: true}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch flags: %v", err)
	}
	out := []string{"(present)"}
	for _, f := range msgs[0].Flags {
		out = append(out, string(f))
	}
	return out
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

func has(flags []string, f string) bool { return slices.Contains(flags, f) }
