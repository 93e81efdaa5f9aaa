package outbox_test

import (
	"context"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// cutAfterDot is a Sender whose connection breaks right after the final
// dot: the server may or may not have taken the message. A real server
// cannot be told to fail at exactly that instant.
type cutAfterDot struct {
	sends int
	cut   bool
}

func (c *cutAfterDot) Send(ctx context.Context, env hsync.Envelope, msg io.Reader, commit func() error) error {
	io.Copy(io.Discard, msg)
	if err := commit(); err != nil {
		return err
	}
	c.sends++
	if c.cut {
		return hsync.Errorf(hsync.Transient, "smtp", errors.New("connection reset after the final dot"))
	}
	return nil
}

func (c *cutAfterDot) Close() error { return nil }

func TestASendCutAfterTheFinalDotIsNeverSentAgainUnasked(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"work"})
	local := &outbox.Local{DB: db, SpoolDir: t.TempDir()}
	if _, err := local.Submit(ctx, "work", hsync.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
		t.Fatal(err)
	}
	sender := &cutAfterDot{cut: true}
	exec := &outbox.SendExecutor{DB: db, Account: "work", Dial: func(context.Context) (hsync.Sender, error) { return sender, nil }}

	claim := func() store.OutboxRow {
		t.Helper()
		row, ok, err := db.ClaimOutbox(ctx, "work", outbox.ServiceKinds["smtp"])
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		return row
	}
	row := claim()
	if _, err := exec.Execute(ctx, row); hsync.KindOf(err) != hsync.Conflict {
		t.Fatalf("cut after the dot: %v (kind %v), want a conflict", err, hsync.KindOf(err))
	}
	// As after a crash at that moment: the row is retried automatically.
	db.Write(ctx, func(tx *store.Tx) error { return tx.FinishOutbox(ctx, row.ID, store.OutboxFailed, "", row.CreatedAt) })
	sender.cut = false
	row = claim()
	if _, err := exec.Execute(ctx, row); hsync.KindOf(err) != hsync.Conflict || sender.sends != 1 {
		t.Fatalf("automatic retry: %v, %d sends; want a conflict and no second send", err, sender.sends)
	}
	// The user decides to send it again.
	db.Write(ctx, func(tx *store.Tx) error { return tx.FinishOutbox(ctx, row.ID, store.OutboxConflict, "", row.CreatedAt) })
	if err := db.RetryOutbox(ctx, row.ID); err != nil {
		t.Fatal(err)
	}
	row = claim()
	if _, err := exec.Execute(ctx, row); err != nil || sender.sends != 2 {
		t.Fatalf("retry by hand: %v, %d sends", err, sender.sends)
	}
}

// endingSender is a session whose OAuth2 sign-in runs out once ending is
// set: a real server cannot be told to expire a token at a given send.
type endingSender struct {
	sends  int
	ending bool
	closed bool
}

func (e *endingSender) Send(ctx context.Context, env hsync.Envelope, msg io.Reader, commit func() error) error {
	io.Copy(io.Discard, msg)
	e.sends++
	return commit()
}
func (e *endingSender) Close() error       { e.closed = true; return nil }
func (e *endingSender) SignInEnding() bool { return e.ending }

func TestAKeptSMTPSessionIsReplacedBeforeItsSignInRunsOut(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"work"})
	local := &outbox.Local{DB: db, SpoolDir: t.TempDir()}
	var dialed []*endingSender
	exec := &outbox.SendExecutor{DB: db, Account: "work", Dial: func(context.Context) (hsync.Sender, error) {
		s := &endingSender{}
		dialed = append(dialed, s)
		return s, nil
	}}
	defer exec.Close()
	send := func() {
		t.Helper()
		if _, err := local.Submit(ctx, "work", hsync.Envelope{From: "a@example.com", To: []string{"b@example.com"}}, strings.NewReader("Subject: x\r\n\r\nbody\r\n")); err != nil {
			t.Fatal(err)
		}
		row, ok, err := db.ClaimOutbox(ctx, "work", outbox.ServiceKinds["smtp"])
		if err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		if _, err := exec.Execute(ctx, row); err != nil {
			t.Fatal(err)
		}
		db.Write(ctx, func(tx *store.Tx) error { return tx.FinishOutbox(ctx, row.ID, store.OutboxDone, "", row.CreatedAt) })
	}
	send()
	send()
	if len(dialed) != 1 || dialed[0].sends != 2 {
		t.Fatalf("%d sessions dialed, want the first kept for both sends", len(dialed))
	}
	dialed[0].ending = true
	send()
	if len(dialed) != 2 || !dialed[0].closed || dialed[1].sends != 1 {
		t.Fatalf("after the sign-in ran out: %d sessions, first closed %v; want a new session for the send", len(dialed), dialed[0].closed)
	}
}
