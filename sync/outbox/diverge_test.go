package outbox_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/store"
)

// otherClientMove moves a message, found by Message-ID, as another mail
// client would (UID MOVE on its own session).
func (e *env) otherClientMove(t *testing.T, from, to, msgID string) {
	t.Helper()
	if _, err := e.c.Select(from, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	defer func() { e.c.Unselect().Wait() }()
	data, err := e.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}}}, nil).Wait()
	if err != nil || len(data.AllUIDs()) != 1 {
		t.Fatalf("find %s in %s: %v %v", msgID, from, data, err)
	}
	var set imap.UIDSet
	set.AddNum(data.AllUIDs()...)
	if _, err := e.c.Move(set, to).Wait(); err != nil {
		t.Fatalf("move %s to %s: %v", msgID, to, err)
	}
}

// serverIDs lists the Message-IDs (with angle brackets) in a folder.
func (e *env) serverIDs(t *testing.T, folder string) []string {
	t.Helper()
	sel, err := e.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { e.c.Unselect().Wait() }()
	if sel.NumMessages == 0 {
		return nil
	}
	msgs, err := e.c.Fetch(imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}, &imap.FetchOptions{Envelope: true}).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.Envelope.MessageID)
	}
	slices.Sort(out)
	return out
}

// mirrorIDs lists the Message-IDs the mirror shows in a folder.
func (e *env) mirrorIDs(t *testing.T, folder string) []string {
	t.Helper()
	msgs, err := e.db.ListMailMessages(context.Background(), store.MailFilter{Account: "work", Folder: folder})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		out = append(out, m.MessageID)
	}
	slices.Sort(out)
	return out
}

// The reproduction of issue 9: another client moves C from INBOX to
// Archive and B from Archive to INBOX; then the user's move of A to
// Archive replays, and its COPYUID puts the highest stored UID of Archive
// above C's. The old rule listed only the UIDs above that and, the counts
// adding up, kept B as a ghost in Archive and never fetched C.
func TestConcurrentMovesByAnotherClientLeaveNoGhostAndMissNothing(t *testing.T) {
	e := setup(t, 3) // m0 = A, m1 = B, m2 = C
	ctx := context.Background()
	e.otherClientMove(t, "INBOX", "Archive", "ob-1@example.com")
	e.sync(t)

	e.otherClientMove(t, "INBOX", "Archive", "ob-2@example.com")
	e.otherClientMove(t, "Archive", "INBOX", "ob-1@example.com")
	if _, err := e.local.Move(ctx, e.message(t, "m0").ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	e.start(t)
	waitFor(t, "move replayed", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 1 })
	e.stop()

	for i := 0; i < 2; i++ { // the second pass must not undo the first
		e.sync(t)
		for _, folder := range []string{"INBOX", "Archive"} {
			if got, want := e.mirrorIDs(t, folder), e.serverIDs(t, folder); !slices.Equal(got, want) {
				t.Errorf("pass %d: %s in the mirror = %v, on the server = %v", i+1, folder, got, want)
			}
		}
	}
}

// otherClientFlag adds flags to a message, found by Message-ID, on the
// other client's session.
func (e *env) otherClientFlag(t *testing.T, folder, msgID string, flags ...imap.Flag) {
	t.Helper()
	if _, err := e.c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	defer func() { e.c.Unselect().Wait() }()
	data, err := e.c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}}}, nil).Wait()
	if err != nil || len(data.AllUIDs()) != 1 {
		t.Fatalf("find %s in %s: %v %v", msgID, folder, data, err)
	}
	var set imap.UIDSet
	set.AddNum(data.AllUIDs()...)
	if err := e.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: flags}, nil).Close(); err != nil {
		t.Fatal(err)
	}
}

// A sync pass that meets a flag change whose replay reached the server
// before the outbox recorded it must read that message's flags again
// later: the replay's MODSEQ (here: the server's state when the local
// change and another client's met) may carry another client's change
// too, and a recorded HIGHESTMODSEQ past it would hide that for good.
func TestFlagsSkippedForAQueuedChangeAreReadOnceItIsReplayed(t *testing.T) {
	e := setup(t, 1)
	ctx := context.Background()
	m := e.message(t, "m0")
	if _, err := e.local.Flag(ctx, m.ID, []string{`\Seen`}, nil); err != nil {
		t.Fatal(err)
	}
	// The replay's STORE has landed, together with another client's flag,
	// but the outbox has not recorded the outcome yet.
	e.otherClientFlag(t, "INBOX", "ob-0@example.com", imap.FlagSeen, imap.FlagAnswered)
	e.sync(t)
	if got := e.message(t, "m0"); has(got.Flags, `\Answered`) {
		t.Fatalf("a pass overwrote the flags of a message with a queued change: %v", got.Flags)
	}
	e.start(t)
	waitFor(t, "replay", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 1 })
	e.stop()
	e.sync(t)
	if got := e.message(t, "m0"); !got.Seen() || !has(got.Flags, `\Answered`) {
		t.Fatalf("mirror flags after the replay = %v, want the server's (\\Seen \\Answered)", got.Flags)
	}
}

// A local move that ends in conflict (another client moved the message
// first) leaves no ghost: the pass that kept the message for the replay
// does not let the next pass skip the folder, and once the replay has
// settled the mirror shows the message where the server has it.
func TestAConflictedMoveLeavesNoGhost(t *testing.T) {
	e := setup(t, 2)
	ctx := context.Background()
	m := e.message(t, "m0")
	if _, err := e.local.Move(ctx, m.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.local.Delete(ctx, m.ID); err != nil { // queued behind the move
		t.Fatal(err)
	}
	e.otherClientMove(t, "INBOX", "Trash", "ob-0@example.com")
	e.sync(t) // keeps m0 for its queued move
	e.start(t)
	waitFor(t, "conflict", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxConflict] == 1 })
	e.stop()
	if n := outboxStates(t, e.db); n[store.OutboxCancelled] != 1 || n[store.OutboxPending] != 0 {
		t.Fatalf("outbox = %v: the deletion queued behind the conflicted move must not wait for good", n)
	}
	e.sync(t)
	for _, folder := range []string{"INBOX", "Archive", "Trash"} {
		if got, want := e.mirrorIDs(t, folder), e.serverIDs(t, folder); !slices.Equal(got, want) {
			t.Errorf("%s in the mirror = %v, on the server = %v", folder, got, want)
		}
	}
}

// A replayed move that finds the message already moved by another client
// adopts the server's copy: its flags are read from the server, not kept
// from the local view (with CONDSTORE no later CHANGEDSINCE would report
// them).
func TestAMoveAdoptingAnotherClientsCopyReadsItsFlags(t *testing.T) {
	e := setup(t, 1)
	ctx := context.Background()
	m := e.message(t, "m0")
	if _, err := e.local.Flag(ctx, m.ID, []string{`\Flagged`}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := e.local.Move(ctx, m.ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	e.otherClientMove(t, "INBOX", "Archive", "ob-0@example.com") // before either replay
	e.sync(t)                                                    // sees it arrive in Archive, before the move adopts it
	e.start(t)
	waitFor(t, "replays", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 2 })
	e.stop()
	e.sync(t)
	server := e.serverFlags(t, "Archive", "ob-0@example.com")
	got := e.message(t, "m0")
	if has(got.Flags, `\Flagged`) != has(server, `\Flagged`) {
		t.Fatalf("mirror flags %v, server %v", got.Flags, server)
	}
}
