package mailsync_test

import (
	"context"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
)

func TestIdlePushBringsANewMessageWithinTwoSeconds(t *testing.T) {
	srv := startServer(t)
	srv.appendMsg(t, "INBOX", msg("first@example.com", "first", "x"), t0)
	f := newFixture(t, srv)
	cfg := srv.config()
	r := &mailsync.Runner{
		Engine:   f.eng,
		Interval: time.Hour, // only IDLE can bring the second message in time
		IdleDial: func(ctx context.Context) (hsync.MailIdler, error) { return imapconn.Dial(ctx, cfg) },
		Health:   &hsync.Health{DB: f.db},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	waitFor(t, 5*time.Second, "initial pass", func() bool { return countMessages(t, f.db) == 1 })
	time.Sleep(300 * time.Millisecond) // let the IDLE session settle in
	start := time.Now()
	srv.appendMsg(t, "INBOX", msg("pushed@example.com", "pushed", "y"), t0)
	waitFor(t, 2*time.Second, "pushed message", func() bool { return countMessages(t, f.db) == 2 })
	t.Logf("pushed message stored %v after APPEND", time.Since(start).Round(time.Millisecond))

	st, err := r.SyncNow(ctx)
	if err != nil || st.Downloaded != 0 {
		t.Fatalf("SyncNow after push: %+v, %v", st, err)
	}
	hs, _ := f.db.HealthRows(context.Background())
	if len(hs) != 1 || hs[0].State != store.HealthUp {
		t.Fatalf("health = %+v", hs)
	}
}

func TestRunnerMarksTheServiceDownAfterRepeatedFailures(t *testing.T) {
	srv := startServer(t)
	f := newFixture(t, srv)
	cfg := srv.config()
	cfg.Port = 1 // nothing listens there
	eng := mailsync.New(mailsync.Options{Account: "work", DB: f.db, SpoolDir: t.TempDir(),
		Dial: func(ctx context.Context) (hsync.MailRemote, error) { return imapconn.Dial(ctx, cfg) }})
	r := &mailsync.Runner{Engine: eng, Interval: time.Hour, Health: &hsync.Health{DB: f.db}}
	r.Retry.Base, r.Retry.Cap = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	waitFor(t, 5*time.Second, "outage", func() bool {
		os, _ := f.db.Outages(context.Background(), 0)
		return len(os) == 1 && os[0].Open()
	})
	cancel()
	<-done
	hs, _ := f.db.HealthRows(context.Background())
	if len(hs) != 1 || hs[0].State != store.HealthDown || hs[0].ConsecutiveFailures < hsync.DownAfter || hs[0].LastError == "" {
		t.Fatalf("health = %+v", hs)
	}
}

func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The loop verifies (and repairs) the mirror after an outage of the
// service has ended, even with periodic verification off.
func TestRunnerVerifiesAndRepairsAfterAnOutageEnds(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	f.sync(t)
	damage(t, f)
	r := &mailsync.Runner{Engine: f.eng, Interval: 100 * time.Millisecond, VerifyEvery: -1, Health: &hsync.Health{DB: f.db}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	time.Sleep(500 * time.Millisecond) // several passes
	// Asked through the loop, which owns the engine; a check changes nothing.
	if rep, err := r.VerifyNow(ctx, mailsync.CheckOnly); err != nil || len(rep.Divergences) != 1 {
		t.Fatalf("without an outage nothing verified, want the damage still there: %+v %v", rep, err)
	}

	h := hsync.Health{DB: f.db}
	for i := 1; i <= hsync.DownAfter; i++ {
		h.Failure(ctx, "work", "imap", i, hsync.Errorf(hsync.Transient, "test", context.DeadlineExceeded))
	}
	h.Success(ctx, "work", "imap")
	waitFor(t, 5*time.Second, "verification after the outage", func() bool {
		oldest, _, _ := f.db.OldestMailVerification(ctx, "work")
		return !oldest.IsZero()
	})
	f.assertMirror(t)
}

// Mail that arrives after a pass but before IDLE watches the folder (the
// daemon's start, a reconnect) is not reported by IDLE itself: the EXISTS
// of the IDLE session's SELECT pokes a pass that covers the gap, instead
// of leaving it for the next poll (a guard: nothing else would).
func TestMailArrivingBeforeIdleStartsIsNotLeftForThePoll(t *testing.T) {
	srv := startServer(t)
	srv.appendMsg(t, "INBOX", msg("first@example.com", "first", "x"), t0)
	f := newFixture(t, srv)
	cfg := srv.config()
	r := &mailsync.Runner{
		Engine:   f.eng,
		Interval: time.Hour,
		IdleDial: func(ctx context.Context) (hsync.MailIdler, error) {
			// The gap: the first pass is done, IDLE not started yet.
			waitFor(t, 5*time.Second, "initial pass", func() bool { return countMessages(t, f.db) == 1 })
			srv.appendMsg(t, "INBOX", msg("in-the-gap@example.com", "gap", "y"), t0)
			return imapconn.Dial(ctx, cfg)
		},
		Health: &hsync.Health{DB: f.db},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	// Well within the poll (30 s by default), with room for a loaded
	// machine: the initial pass is inside this wait too.
	waitFor(t, 10*time.Second, "the message that arrived in the gap", func() bool { return countMessages(t, f.db) == 2 })
}
