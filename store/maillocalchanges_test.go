package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLocalChangeCountersCountWhatAClientCanSee(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"a"})
	var inbox, archive int64
	ids := map[string]int64{}
	write := func(fn func(tx *Tx) error) {
		t.Helper()
		if err := db.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	write(func(tx *Tx) error {
		var err error
		if inbox, err = tx.UpsertMailFolder(ctx, "a", "INBOX", "/", ""); err != nil {
			return err
		}
		if archive, err = tx.UpsertMailFolder(ctx, "a", "Archive", "/", ""); err != nil {
			return err
		}
		for i := range 3 {
			mid := fmt.Sprintf("m%d@x", i)
			bid, err := tx.InsertMailBody(ctx, "a", mid, 5, strings.NewReader("hello"))
			if err != nil {
				return err
			}
			if ids[mid], err = tx.InsertMailMessage(ctx, MailMessage{FolderID: inbox, UID: uint32(10 + i), BodyID: bid, MessageID: mid, Size: 5, InternalDate: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	counters := func(folder int64) LocalMailCounters {
		t.Helper()
		c, err := db.LocalMailCountersOf(ctx, folder)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	changed := func(folder int64, since uint64) string {
		t.Helper()
		ms, err := db.LocalMailChangedSince(ctx, folder, since)
		if err != nil {
			t.Fatal(err)
		}
		var b []string
		for _, m := range ms {
			full, err := db.MailMessageByID(ctx, m.ID)
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, fmt.Sprintf("%s/%d/%v/%v", full.MessageID, m.LocalUID, m.Flags, m.Deleted))
		}
		return strings.Join(b, " ")
	}
	c0 := counters(inbox)
	if c0.ModSeq != 3 || c0.Removed != 0 {
		t.Fatalf("after three inserts: %+v", c0)
	}
	if got := changed(inbox, 2); got != "m2@x/3/[]/false" {
		t.Fatalf("changed since 2: %s", got)
	}

	t.Run("the same flags stored again change nothing", func(t *testing.T) {
		write(func(tx *Tx) error {
			_, err := tx.SetMailFlags(ctx, inbox, 10, nil, 5)
			return err
		})
		if c := counters(inbox); c != c0 {
			t.Fatalf("%+v, want %+v", c, c0)
		}
	})
	t.Run("a flag change is one change of that message", func(t *testing.T) {
		write(func(tx *Tx) error { return tx.SetLocalMailFlags(ctx, ids["m1@x"], []string{`\Seen`}) })
		c := counters(inbox)
		if c.ModSeq != c0.ModSeq+1 || c.Removed != 0 {
			t.Fatalf("%+v", c)
		}
		if got := changed(inbox, c0.ModSeq); got != `m1@x/2/[\Seen]/false` {
			t.Fatalf("changed: %s", got)
		}
		c0 = c
	})
	t.Run("a move out is a removal there and a new message in the destination", func(t *testing.T) {
		a0 := counters(archive)
		write(func(tx *Tx) error { return tx.MoveMailLocal(ctx, ids["m0@x"], archive) })
		c, a := counters(inbox), counters(archive)
		if c.ModSeq != c0.ModSeq+1 || c.Removed != 1 || a.ModSeq != a0.ModSeq+1 || a.Removed != 0 {
			t.Fatalf("inbox %+v, archive %+v", c, a)
		}
		if got := changed(inbox, c0.ModSeq); got != "" {
			t.Fatalf("the moved row is not the inbox's any more: %s", got)
		}
		if got := changed(archive, a0.ModSeq); got != "m0@x/1/[]/false" {
			t.Fatalf("archive: %s", got)
		}
		c0 = c
	})
	t.Run("a queued delete is a change of the row; undone, the message comes back with a new UID", func(t *testing.T) {
		write(func(tx *Tx) error { return tx.MarkMailDeleted(ctx, ids["m2@x"]) })
		if got := changed(inbox, c0.ModSeq); got != "m2@x/3/[]/true" {
			t.Fatalf("changed: %s", got)
		}
		c0 = counters(inbox)
		write(func(tx *Tx) error { return tx.RevertMailLocal(ctx, ids["m2@x"]) })
		if got := changed(inbox, c0.ModSeq); got != "m2@x/4/[]/false" {
			t.Fatalf("after the revert: %s", got)
		}
		c0 = counters(inbox)
	})
	t.Run("a row deleted is a removal", func(t *testing.T) {
		write(func(tx *Tx) error { return tx.DeleteMailMessages(ctx, inbox, []uint32{11}) })
		c := counters(inbox)
		if c.ModSeq != c0.ModSeq+1 || c.Removed != c0.Removed+1 {
			t.Fatalf("%+v after %+v", c, c0)
		}
		uids, err := db.LocalMailUIDs(ctx, inbox, 100)
		if err != nil || fmt.Sprint(uids) != "[4]" {
			t.Fatalf("UIDs: %v %v", uids, err)
		}
	})
	t.Run("a commit wakes NextCommit's waiters", func(t *testing.T) {
		next := db.NextCommit()
		write(func(tx *Tx) error { return tx.SetLocalMailFlags(ctx, ids["m2@x"], []string{`\Flagged`}) })
		select {
		case <-next:
		case <-time.After(time.Second):
			t.Fatal("no wake after a commit")
		}
	})
}
