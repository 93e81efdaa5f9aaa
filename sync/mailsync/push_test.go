package mailsync_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
)

// startRunner runs r until the test ends.
func startRunner(t *testing.T, r *mailsync.Runner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// messagesIn counts the stored messages of one folder.
func messagesIn(t *testing.T, db *store.DB, folder string) []store.MailMessage {
	t.Helper()
	folders, err := db.MailFolders(context.Background(), "work")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.Name == folder {
			msgs, err := db.ListMailMessages(context.Background(), store.MailFilter{FolderID: f.ID})
			if err != nil {
				t.Fatal(err)
			}
			return msgs
		}
	}
	return nil
}

func hasFolder(t *testing.T, db *store.DB, name string) bool {
	t.Helper()
	folders, err := db.MailFolders(context.Background(), "work")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.Name == name {
			return true
		}
	}
	return false
}

// allSynced reports whether a pass has synced every stored folder.
func allSynced(t *testing.T, db *store.DB) bool {
	t.Helper()
	folders, err := db.MailFolders(context.Background(), "work")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range folders {
		if f.SyncedAt.Unix() <= 0 {
			return false
		}
	}
	return len(folders) > 0
}

func flagged(msgs []store.MailMessage) bool {
	for _, m := range msgs {
		for _, f := range m.Flags {
			if f == string(imap.FlagFlagged) {
				return true
			}
		}
	}
	return false
}

// within waits for cond and reports how long the change took to arrive.
func within(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	start := time.Now()
	waitFor(t, d, what, cond)
	t.Logf("%s: in the store after %v", what, time.Since(start).Round(time.Millisecond))
}

func TestNotifyBringsEveryChangeInASubfolderWithinTwoSeconds(t *testing.T) {
	srv := startServer(t)
	srv.create(t, "Projects")
	srv.create(t, "Projects/2026")
	srv.appendMsg(t, "Projects/2026", msg("plan@example.com", "plan", "x"), t0)
	f := newFixture(t, srv)
	cfg := srv.config()
	startRunner(t, &mailsync.Runner{
		Engine:     f.eng,
		Interval:   time.Hour, // only push can bring the changes in time
		Poll:       time.Hour,
		NotifyDial: func(ctx context.Context) (hsync.MailNotifier, error) { return imapconn.DialNotifier(ctx, cfg) },
		IdleDial:   func(ctx context.Context) (hsync.MailIdler, error) { return imapconn.Dial(ctx, cfg) },
		Health:     &hsync.Health{DB: f.db},
	})
	waitFor(t, 5*time.Second, "initial pass", func() bool { return len(messagesIn(t, f.db, "Projects/2026")) == 1 })
	time.Sleep(300 * time.Millisecond) // let the NOTIFY session settle in

	srv.appendMsg(t, "Projects/2026", msg("filed@example.com", "filed by a rule", "y"), t0)
	within(t, 2*time.Second, "new mail in Projects/2026", func() bool { return len(messagesIn(t, f.db, "Projects/2026")) == 2 })
	srv.change(t, "flag change", "Projects/2026")
	within(t, 2*time.Second, "flag change in Projects/2026", func() bool { return flagged(messagesIn(t, f.db, "Projects/2026")) })
	srv.change(t, "expunge", "Projects/2026")
	within(t, 2*time.Second, "expunge in Projects/2026", func() bool { return len(messagesIn(t, f.db, "Projects/2026")) == 1 })
	srv.create(t, "Later")
	srv.appendMsg(t, "Later", msg("later@example.com", "in a new folder", "z"), t0)
	within(t, 2*time.Second, "new mail in a new folder", func() bool { return len(messagesIn(t, f.db, "Later")) == 1 })
	if err := srv.c.Delete("Later").Wait(); err != nil {
		t.Fatal(err)
	}
	within(t, 2*time.Second, "a deleted folder", func() bool { return !hasFolder(t, f.db, "Later") })
	f.assertMirror(t)
}

func TestServerWithoutNotifyIsPolledEveryPollInterval(t *testing.T) {
	srv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}}, nil)
	f := newFixtureCfg(t, memConfig(srv))
	cfg := memConfig(srv)
	const poll = time.Second
	startRunner(t, &mailsync.Runner{
		Engine:     f.eng,
		Interval:   time.Hour,
		Poll:       poll,
		NotifyDial: func(ctx context.Context) (hsync.MailNotifier, error) { return imapconn.DialNotifier(ctx, cfg) },
		IdleDial:   func(ctx context.Context) (hsync.MailIdler, error) { return imapconn.Dial(ctx, cfg) },
		Health:     &hsync.Health{DB: f.db},
	})
	waitFor(t, 5*time.Second, "initial pass", func() bool { return allSynced(t, f.db) })
	srv.Append(t, "Archive", msg("archived@example.com", "archived", "x"))
	// At most one poll interval, plus the pass itself.
	within(t, poll+time.Second, "new mail in Archive", func() bool { return len(messagesIn(t, f.db, "Archive")) == 1 })
}

func TestNotifyReconnectsAndCatchesUpAfterItsConnectionDrops(t *testing.T) {
	srv := startServer(t)
	srv.create(t, "Lists")
	f := newFixture(t, srv)
	proxy, err := faultproxy.New(srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	viaProxy := srv.config()
	viaProxy.Port = proxy.Port()
	r := &mailsync.Runner{
		Engine:     f.eng, // its own session goes straight to the server
		Interval:   time.Hour,
		Poll:       time.Hour,
		NotifyDial: func(ctx context.Context) (hsync.MailNotifier, error) { return imapconn.DialNotifier(ctx, viaProxy) },
		Health:     &hsync.Health{DB: f.db},
	}
	r.Retry.Base, r.Retry.Cap = 50*time.Millisecond, 200*time.Millisecond
	startRunner(t, r)
	waitFor(t, 5*time.Second, "initial pass and NOTIFY on", func() bool {
		accepted, _ := proxy.Stats()
		return accepted == 1 && allSynced(t, f.db)
	})
	time.Sleep(300 * time.Millisecond)

	// The connection drops and stays down while mail arrives: NOTIFY
	// cannot report that mail, the catch-up after the reconnect must.
	proxy.Down()
	srv.appendMsg(t, "Lists", msg("while-down@example.com", "while down", "x"), t0)
	time.Sleep(500 * time.Millisecond)
	if n := len(messagesIn(t, f.db, "Lists")); n != 0 {
		t.Fatalf("%d messages in Lists while NOTIFY was down: the test proves nothing", n)
	}
	proxy.Up()
	within(t, 2*time.Second, "mail that arrived while NOTIFY was down", func() bool { return len(messagesIn(t, f.db, "Lists")) == 1 })

	// And the new session reports as the first did.
	time.Sleep(300 * time.Millisecond)
	srv.appendMsg(t, "Lists", msg("after@example.com", "after", "y"), t0)
	within(t, 2*time.Second, "mail after the reconnect", func() bool { return len(messagesIn(t, f.db, "Lists")) == 2 })
	if accepted, _ := proxy.Stats(); accepted < 2 {
		t.Fatalf("%d NOTIFY connections, want a reconnect", accepted)
	}
}

// The engine's own passes (SELECT, FETCH with a body read) must not come
// back as NOTIFY reports that start more passes: a quiet account stays
// quiet.
func TestNotifyDoesNotEchoTheEnginesOwnPasses(t *testing.T) {
	srv := startServer(t)
	srv.create(t, "Lists")
	for i := range 3 {
		srv.appendMsg(t, "Lists", msg(fmt.Sprintf("l%d@example.com", i), "list", "x"), t0)
		srv.appendMsg(t, "INBOX", msg(fmt.Sprintf("i%d@example.com", i), "inbox", "x"), t0)
	}
	f := newFixture(t, srv)
	cfg := srv.config()
	var passes atomic.Int32
	startRunner(t, &mailsync.Runner{
		Engine:     f.eng,
		Interval:   time.Hour,
		Poll:       time.Hour,
		NotifyDial: func(ctx context.Context) (hsync.MailNotifier, error) { return imapconn.DialNotifier(ctx, cfg) },
		Health:     &hsync.Health{DB: f.db},
		Passed:     func(mailsync.Stats, time.Duration, error) { passes.Add(1) },
	})
	waitFor(t, 5*time.Second, "initial pass", func() bool { return countMessages(t, f.db) == 6 })
	srv.appendMsg(t, "Lists", msg("late@example.com", "late", "y"), t0)
	waitFor(t, 2*time.Second, "pushed message", func() bool { return countMessages(t, f.db) == 7 })
	time.Sleep(time.Second)
	settled := passes.Load()
	time.Sleep(2 * time.Second)
	if n := passes.Load() - settled; n != 0 {
		t.Fatalf("%d passes on a quiet account after the push settled (%d before): the engine hears its own work", n, settled)
	}
	t.Logf("%d passes before the quiet period (the initial one, the catch-up once NOTIFY was on and the push, some merged)", settled)
}

// NOTIFY reports every folder of the namespace; the ones mail.folders
// leaves out cost nothing, and a new one it includes is picked up.
func TestPushedFoldersAreFilteredOnOurSide(t *testing.T) {
	srv := startServer(t)
	srv.create(t, "Spam-ish")
	f := newFixture(t, srv)
	cfg := srv.config()
	remote := &counters{}
	eng := mailsync.New(mailsync.Options{Account: "work", DB: f.db, SpoolDir: t.TempDir(),
		Filter: mailsync.FolderFilter{Exclude: []string{"Spam*"}},
		Dial: func(ctx context.Context) (hsync.MailRemote, error) {
			s, err := imapconn.Dial(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return &countingRemote{MailRemote: s, c: remote}, nil
		}})
	defer eng.Close()
	ctx := context.Background()
	if _, err := eng.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	remote.resetCounts()
	if st, err := eng.SyncFolder(ctx, "Spam-ish"); err != nil || st != (mailsync.Stats{}) || remote.lists+remote.selects != 0 {
		t.Fatalf("a report about an excluded folder: %+v, %v, %d LIST, %d SELECT", st, err, remote.lists, remote.selects)
	}
	srv.create(t, "Fresh")
	srv.appendMsg(t, "Fresh", msg("fresh@example.com", "fresh", "x"), t0)
	if st, err := eng.SyncFolder(ctx, "Fresh"); err != nil || st.New != 1 {
		t.Fatalf("a report about a new included folder: %+v, %v", st, err)
	}
}
