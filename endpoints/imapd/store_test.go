package imapd_test

import (
	"context"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

func TestStoreIsALocalChangeThatReachesTheProviderOnce(t *testing.T) {
	m := newMirror(t)
	m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0)
	m.appendMsg(t, "INBOX", message("two@x", "second", "hello two"), t0)
	m.sync(t)
	addr := startEndpointWith(t, imapd.Options{DB: m.db, Flagger: &outbox.Local{DB: m.db}, NoChange: outbox.ErrNoChange})
	c := login(t, addr)

	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(sel.PermanentFlags, imap.FlagFlagged) {
		t.Fatalf("SELECT PERMANENTFLAGS %v: writes are on", sel.PermanentFlags)
	}
	flagsOf := func(op imap.StoreFlagsOp, uid imap.UID, flags ...imap.Flag) []imap.Flag {
		t.Helper()
		msgs, err := c.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Flags: flags}, nil).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("STORE: %v %v", msgs, err)
		}
		return sortedFlags(msgs[0].Flags)
	}
	if got := flagsOf(imap.StoreFlagsAdd, 1, imap.FlagFlagged); !slices.Equal(got, []imap.Flag{imap.FlagFlagged}) {
		t.Fatalf("+FLAGS: %v", got)
	}
	if got := flagsOf(imap.StoreFlagsSet, 1, imap.FlagAnswered); !slices.Equal(got, []imap.Flag{imap.FlagAnswered}) {
		t.Fatalf("FLAGS: %v", got)
	}
	// A BODY[] without PEEK marks the message read.
	msgs, err := c.Fetch(imap.UIDSetNum(2), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 || !slices.Contains(msgs[0].Flags, imap.FlagSeen) {
		t.Fatalf("FETCH BODY[]: %v %v", msgs, err)
	}

	// The flags are in the store and queued, one action per message.
	rows, err := m.db.ListOutbox(context.Background(), store.OutboxFilter{Account: "work"})
	if err != nil || len(rows) != 2 {
		t.Fatalf("outbox: %d rows (%v), want one per message", len(rows), err)
	}
	m.replay(t)
	theirs := byMessageID(t, m.c, "INBOX", &imap.FetchOptions{Flags: true})
	if got := sortedFlags(theirs["one@x"].Flags); !slices.Equal(got, []imap.Flag{imap.FlagAnswered}) {
		t.Errorf("Dovecot's flags of one@x: %v", got)
	}
	if got := sortedFlags(theirs["two@x"].Flags); !slices.Equal(got, []imap.Flag{imap.FlagSeen}) {
		t.Errorf("Dovecot's flags of two@x: %v", got)
	}

	// EXAMINE is read-only.
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	err = c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
	if code := responseCode(err); code != imap.ResponseCodeCannot {
		t.Fatalf("STORE after EXAMINE: %v", err)
	}
}
