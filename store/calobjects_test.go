package store

import (
	"context"
	"testing"
	"time"
)

func TestCalendarObjectsKeepQueuedLocalChangesAndAnswerRanges(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	if err := db.EnsureAccounts(ctx, []string{"work"}); err != nil {
		t.Fatal(err)
	}
	day := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	fields := func(uid string, start time.Time, last time.Time, unbounded bool) CalFields {
		return CalFields{UID: uid, Kind: "VEVENT", Summary: uid, Start: start, End: start.Add(time.Hour), LastEnd: last, Unbounded: unbounded}
	}
	var cal int64
	var local int64
	err := db.Write(ctx, func(tx *Tx) error {
		var err error
		if cal, err = tx.UpsertCalendar(ctx, Calendar{Account: "work", Href: "/u/work/", Name: "Work", Components: []string{"VEVENT"}}); err != nil {
			return err
		}
		for _, o := range []struct {
			href string
			f    CalFields
		}{
			{"/u/work/once.ics", fields("once", day, day.Add(time.Hour), false)},
			{"/u/work/weekly.ics", fields("weekly", day.AddDate(0, -1, 0), time.Time{}, true)},
			{"/u/work/past.ics", fields("past", day.AddDate(0, -2, 0), day.AddDate(0, -2, 0).Add(time.Hour), false)},
		} {
			if _, err := tx.StoreServerObject(ctx, cal, o.href, `"1"`, []byte("BEGIN:VCALENDAR"), o.f); err != nil {
				return err
			}
		}
		local, err = tx.InsertLocalObject(ctx, cal, "/u/work/new.ics", []byte("local"), fields("new", day.AddDate(0, 0, 3), day.AddDate(0, 0, 3).Add(time.Hour), false))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	in, err := db.CalObjectsInRange(ctx, CalRange{Account: "work", From: day.AddDate(0, 0, -1), To: day.AddDate(0, 0, 14)})
	if err != nil {
		t.Fatal(err)
	}
	var uids []string
	for _, o := range in {
		uids = append(uids, o.UID)
	}
	if got := len(in); got != 3 || uids[0] != "weekly" || !in[0].Unbounded {
		t.Fatalf("in range = %v (%+v)", uids, in)
	}

	// A server change to an object with a queued local change is not
	// applied; a deletion on the server does not remove it either.
	err = db.Write(ctx, func(tx *Tx) error {
		if ok, err := tx.StoreServerObject(ctx, cal, "/u/work/new.ics", `"9"`, []byte("server"), fields("new", day, day, false)); err != nil || ok {
			t.Errorf("server version written over a queued local create: %v %v", ok, err)
		}
		n, err := tx.DeleteServerObjects(ctx, cal, []string{"/u/work/new.ics", "/u/work/past.ics"})
		if n != 1 {
			t.Errorf("deleted %d, want only the synced one", n)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	o, err := db.CalObjectByID(ctx, local)
	if err != nil || string(o.Data) != "local" || o.LocalState != CalCreated {
		t.Fatalf("local object = %+v, %v", o, err)
	}
}
