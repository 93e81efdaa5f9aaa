package outbox_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// The core story: the server is unreachable, the user flags, moves and
// deletes; it all shows locally at once and is queued; the service goes
// down with an outage; when the server is back every change reaches it
// once, the outage closes with its counts, and a sync pass downloads
// nothing.
func TestChangesDuringAnOutageReachTheServerOnceItIsBack(t *testing.T) {
	e := setup(t, 6)
	ctx := context.Background()
	e.proxy.Down()

	m0, m1, m2 := e.message(t, "m0"), e.message(t, "m1"), e.message(t, "m2")
	if _, err := e.local.Flag(ctx, m0.ID, []string{`\Seen`, `\Flagged`}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.local.Flag(ctx, m0.ID, nil, []string{`\Flagged`}); err != nil { // coalesces
		t.Fatal(err)
	}
	if _, err := e.local.Move(ctx, m1.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.local.Delete(ctx, m2.ID); err != nil {
		t.Fatal(err)
	}
	// Local view at once.
	if got := e.message(t, "m0"); !got.Seen() || has(got.Flags, `\Flagged`) {
		t.Fatalf("local flags = %v", got.Flags)
	}
	if got := e.message(t, "m1"); got.Folder != "Archive" {
		t.Fatalf("local folder of m1 = %s", got.Folder)
	}
	if got := e.message(t, "m2"); got.Folder != "Trash" {
		t.Fatalf("local folder of m2 = %s", got.Folder)
	}
	e.start(t) // after the edits, so the two flag edits coalesce deterministically
	waitFor(t, "outage opened", 10*time.Second, func() bool {
		os, _ := e.db.Outages(ctx, 0)
		return len(os) == 1 && os[0].Open()
	})
	if n := outboxStates(t, e.db); n[store.OutboxDone] != 0 || n[store.OutboxPending]+n[store.OutboxFailed]+n[store.OutboxInflight] != 3 {
		t.Fatalf("outbox during the outage = %v (want 3 queued: the two flag edits coalesced)", n)
	}

	e.proxy.Up()
	e.worker.Wake()
	waitFor(t, "queue drained", 15*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 3 })
	e.stop()

	if f := e.serverFlags(t, "INBOX", "ob-0@example.com"); !has(f, `\Seen`) || has(f, `\Flagged`) {
		t.Fatalf("server flags of m0 = %v", f)
	}
	if e.serverFlags(t, "INBOX", "ob-1@example.com") != nil || e.serverFlags(t, "Archive", "ob-1@example.com") == nil {
		t.Fatal("m1 was not moved to Archive on the server")
	}
	if e.serverFlags(t, "INBOX", "ob-2@example.com") != nil || e.serverFlags(t, "Trash", "ob-2@example.com") == nil {
		t.Fatal("m2 was not moved to Trash on the server")
	}
	os, _ := e.db.Outages(ctx, 0)
	if len(os) != 1 || os[0].Open() || os[0].Queued != 3 || os[0].Replayed != 3 {
		t.Fatalf("outage = %+v, want closed with 3 queued and 3 replayed", os)
	}
	st := e.sync(t)
	if st.Downloaded != 0 || st.New != 0 {
		t.Fatalf("sync after the replay downloaded %d (new %d): the moves' UIDs were not learned", st.Downloaded, st.New)
	}
	if got := e.message(t, "m1"); got.Folder != "Archive" || got.UID == 0 || int64(got.UID) < 0 {
		t.Fatalf("m1 after sync = %+v", got)
	}
}

// Flags are deltas: a change made on the server meanwhile is kept.
func TestFlagDeltasMergeWithServerChanges(t *testing.T) {
	e := setup(t, 1)
	ctx := context.Background()
	m := e.message(t, "m0")
	if _, err := e.c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	if err := e.c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	e.c.Unselect().Wait()
	if _, err := e.local.Flag(ctx, m.ID, []string{`\Seen`}, nil); err != nil {
		t.Fatal(err)
	}
	// A sync pass before the replay must not undo the queued change.
	e.sync(t)
	if got := e.message(t, "m0"); !got.Seen() {
		t.Fatalf("sync reverted the queued flag: %v", got.Flags)
	}
	e.start(t)
	waitFor(t, "replay", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 1 })
	e.stop()
	if f := e.serverFlags(t, "INBOX", "ob-0@example.com"); !has(f, `\Seen`) || !has(f, `\Answered`) {
		t.Fatalf("server flags = %v, want both the server's and ours", f)
	}
	e.sync(t)
	if got := e.message(t, "m0"); !got.Seen() || !has(got.Flags, `\Answered`) {
		t.Fatalf("local flags after sync = %v", got.Flags)
	}
}

func TestMoveOfAMessageExpungedOnTheServerIsAConflictNotALoop(t *testing.T) {
	e := setup(t, 2)
	ctx := context.Background()
	m := e.message(t, "m0")
	if _, err := e.local.Move(ctx, m.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var one imap.UIDSet
	one.AddNum(imap.UID(m.RemoteUID))
	e.c.Store(one, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if err := e.c.UIDExpunge(one).Close(); err != nil {
		t.Fatal(err)
	}
	e.c.Unselect().Wait()
	e.start(t)
	waitFor(t, "conflict", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxConflict] == 1 })
	rows, _ := e.db.ListOutbox(ctx, store.OutboxFilter{State: store.OutboxConflict})
	if len(rows) != 1 || rows[0].LastError == "" {
		t.Fatalf("conflict row = %+v", rows)
	}
}

func TestMoveToAFolderThatVanishedIsDead(t *testing.T) {
	e := setup(t, 1)
	ctx := context.Background()
	if err := e.c.Create("Old", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	e.sync(t)
	m := e.message(t, "m0")
	if _, err := e.local.Move(ctx, m.ID, "Old"); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Delete("Old").Wait(); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	waitFor(t, "dead", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDead] == 1 })
	if e.serverFlags(t, "INBOX", "ob-0@example.com") == nil {
		t.Fatal("the message left INBOX although its move failed")
	}
}

func TestFlagOnAMissingMessageIsRefused(t *testing.T) {
	e := setup(t, 0)
	if _, err := e.local.Flag(context.Background(), 999, []string{`\Seen`}, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	if _, err := e.local.Flag(context.Background(), 1, []string{"bad flag"}, nil); err == nil {
		t.Fatal("a flag with a space was accepted")
	}
}

// A sync pass can see the provider back before the worker does: it closes
// the outage while the action still waits (queued 1, replayed 0). The
// action the worker replays afterwards still counts as replayed.
func TestAnActionReplayedAfterAPassClosedTheOutageCountsAsReplayed(t *testing.T) {
	e := setup(t, 1)
	ctx := context.Background()
	e.proxy.Down()
	if _, err := e.local.Flag(ctx, e.message(t, "m0").ID, []string{`\Seen`}, nil); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	waitFor(t, "outage opened", 10*time.Second, func() bool {
		os, _ := e.db.Outages(ctx, 0)
		return len(os) == 1 && os[0].Open()
	})
	e.stop()

	e.proxy.Up()
	// The mail runner's pass succeeds first.
	if err := (&hsync.Health{DB: e.db}).Success(ctx, "work", "imap", outbox.ServiceKinds["imap"]...); err != nil {
		t.Fatal(err)
	}
	if os, _ := e.db.Outages(ctx, 0); len(os) != 1 || os[0].Open() || os[0].Queued != 1 || os[0].Replayed != 0 {
		t.Fatalf("outage after the pass = %+v, want closed with 1 queued, 0 replayed yet", os)
	}
	e.start(t)
	e.worker.Wake()
	waitFor(t, "queue drained", 15*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 1 })
	e.stop()
	if os, _ := e.db.Outages(ctx, 0); len(os) != 1 || os[0].Queued != 1 || os[0].Replayed != 1 {
		t.Fatalf("outage after the replay = %+v, want 1 queued and 1 replayed", os)
	}
}
