package store

import (
	"context"
	"fmt"
	"testing"
)

// The local change counts behind the CalDAV endpoint's ETags and
// sync-tokens: every change of the local view counts, whoever made it;
// a replay recording the provider's ETag does not.
func TestLocalChangeCountsFollowTheLocalViewOnly(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	db.EnsureAccounts(ctx, []string{"work"})
	write := func(fn func(tx *Tx) error) {
		t.Helper()
		if err := db.Write(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	seqOf := func(cal int64, href string) int64 {
		t.Helper()
		o, err := db.LocalCalObjectAt(ctx, cal, href)
		if err != nil {
			t.Fatal(err)
		}
		return o.LocalSeq
	}
	var cal, id int64
	write(func(tx *Tx) error {
		var err error
		if cal, err = tx.UpsertCalendar(ctx, Calendar{Account: "work", Href: "/u/work/", Name: "Work"}); err != nil {
			return err
		}
		if _, err = tx.StoreServerObject(ctx, cal, "/u/work/a.ics", `"e1"`, []byte("A1"), CalFields{UID: "a"}); err != nil {
			return err
		}
		id, err = tx.InsertLocalObject(ctx, cal, "/u/work/b.ics", []byte("B1"), CalFields{UID: "b"})
		return err
	})
	start, base, err := db.CalLocalSeq(ctx, cal)
	if err != nil || base == 0 || start != base+2 {
		t.Fatalf("after two inserts: seq %d, base %d, %v", start, base, err)
	}
	a1 := seqOf(cal, "/u/work/a.ics")

	// The replay of b records the provider's ETag: the local view is the same.
	write(func(tx *Tx) error { return tx.SetCalSynced(ctx, id, `"e2"`, []byte("B1")) })
	// The provider sends a again, unchanged: nothing counts either.
	write(func(tx *Tx) error {
		_, err := tx.StoreServerObject(ctx, cal, "/u/work/a.ics", `"e3"`, []byte("A1"), CalFields{UID: "a"})
		return err
	})
	if now, _, _ := db.CalLocalSeq(ctx, cal); now != start || seqOf(cal, "/u/work/a.ics") != a1 {
		t.Fatalf("a replay or an unchanged resend counted: seq %d → %d", start, now)
	}

	// A local edit, a hidden object and a removed one each count once.
	write(func(tx *Tx) error { return tx.SetLocalObject(ctx, id, []byte("B2"), CalFields{UID: "b"}) })
	write(func(tx *Tx) error { return tx.MarkCalDeleted(ctx, id) })
	write(func(tx *Tx) error {
		_, err := tx.DeleteServerObjects(ctx, cal, []string{"/u/work/a.ics"})
		return err
	})
	now, _, _ := db.CalLocalSeq(ctx, cal)
	if now != start+3 {
		t.Fatalf("three changes counted as %d", now-start)
	}
	changed, err := db.LocalCalObjects(ctx, cal, false, start, now)
	if err != nil || len(changed) != 0 {
		t.Fatalf("visible changes since %d: %+v, %v", start, changed, err)
	}
	removed, err := db.LocalCalRemoved(ctx, cal, start, now)
	if err != nil || fmt.Sprint(removed) != "[/u/work/a.ics /u/work/b.ics]" {
		t.Fatalf("removed since %d: %v, %v", start, removed, err)
	}
	// A token taken before a change does not see changes after its bound.
	if removed, _ := db.LocalCalRemoved(ctx, cal, start, start+1); len(removed) != 0 {
		t.Fatalf("removed up to %d: %v", start+1, removed)
	}

	// A calendar made later counts from above every count used before,
	// so no old token is ever one of its own.
	var other int64
	write(func(tx *Tx) error {
		var err error
		other, err = tx.UpsertCalendar(ctx, Calendar{Account: "work", Href: "/u/home/", Name: "Home"})
		return err
	})
	if _, base2, _ := db.CalLocalSeq(ctx, other); base2 <= now {
		t.Fatalf("new calendar starts at %d, at or below %d", base2, now)
	}
}

// A deletion queued while the object's PUT was in flight must survive the
// PUT's outcome: the data is unchanged (a deletion does not touch it),
// which used to read as "synced" and showed the event again, so its
// queued DELETE found nothing to do.
func TestAPutsOutcomeKeepsADeletionQueuedMeanwhile(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	db.EnsureAccounts(ctx, []string{"work"})
	var id int64
	err := db.Write(ctx, func(tx *Tx) error {
		cal, err := tx.UpsertCalendar(ctx, Calendar{Account: "work", Href: "/u/work/", Name: "Work"})
		if err != nil {
			return err
		}
		if id, err = tx.InsertLocalObject(ctx, cal, "/u/work/n.ics", []byte("N"), CalFields{UID: "n"}); err != nil {
			return err
		}
		if err := tx.MarkCalDeleted(ctx, id); err != nil { // while the PUT is in flight
			return err
		}
		return tx.SetCalSynced(ctx, id, `"e1"`, []byte("N"))
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := db.CalObjectByID(ctx, id)
	if err != nil || o.LocalState != CalDeleted || o.ETag != `"e1"` {
		t.Fatalf("after the PUT's outcome: state %q, etag %q, %v; want still deleted, with the new ETag for the DELETE", o.LocalState, o.ETag, err)
	}
}
