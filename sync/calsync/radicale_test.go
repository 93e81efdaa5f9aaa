package calsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
)

var day = time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)

func TestInitialSyncOfTwoCalendarsThenOnlyWhatChanged(t *testing.T) {
	e := newEnv(t, "")
	e.seed(t, "work", 120, day)
	e.seed(t, "home", 5, day)

	st := e.sync(t)
	if st.Calendars != 2 || st.Fetched != 125 || st.FullCompares != 0 {
		t.Fatalf("initial sync = %+v, want 2 calendars and 125 objects by sync-collection", st)
	}
	cals, _ := e.db.Calendars(context.Background(), "work")
	if len(cals) != 2 {
		t.Fatalf("calendars = %+v", cals)
	}
	if e.count(t) != 125 {
		t.Fatalf("stored %d objects", e.count(t))
	}

	// Unchanged: the listing's sync-tokens say so; no REPORT at all.
	before := *e.remote
	if st := e.sync(t); st.Skipped != 2 || st.Calendars != 0 || e.remote.changes != before.changes {
		t.Fatalf("no-op resync = %+v (%d REPORTs)", st, e.remote.changes-before.changes)
	}

	// Another client creates, edits and deletes: only those are fetched.
	e.serverPut(t, e.href("work", "new@test.ics"), event("new@test", "brand new", day))
	e.serverPut(t, e.href("work", "work-3@test.ics"), event("work-3@test", "moved meeting", day.Add(48*time.Hour)))
	if err := e.direct.Delete(context.Background(), e.href("work", "work-4@test.ics"), ""); err != nil {
		t.Fatal(err)
	}
	objects := e.remote.objects
	st = e.sync(t)
	if st.Calendars != 1 || st.Skipped != 1 || st.Fetched != 2 || st.Removed != 1 || e.remote.objects-objects != 2 {
		t.Fatalf("incremental = %+v (%d objects asked for)", st, e.remote.objects-objects)
	}
	if o := e.objectByUID(t, "work-3@test"); o.Summary != "moved meeting" || !o.Start.Equal(day.Add(48*time.Hour)) {
		t.Fatalf("edited object = %q at %v", o.Summary, o.Start)
	}
}

func TestARefusedSyncTokenFallsBackWithoutDownloadingAgain(t *testing.T) {
	e := newEnv(t, "")
	e.seed(t, "work", 30, day)
	e.sync(t)
	cals, _ := e.db.Calendars(context.Background(), "work")
	err := e.db.Write(context.Background(), func(tx *store.Tx) error {
		return tx.SetCalendarState(context.Background(), cals[0].ID, "", "http://radicale.org/ns/sync/expired-token")
	})
	if err != nil {
		t.Fatal(err)
	}
	e.serverPut(t, e.href("work", "late@test.ics"), event("late@test", "late", day))
	objects := e.remote.objects
	st := e.sync(t)
	if st.FullCompares != 1 || st.Fetched != 1 || e.remote.objects-objects != 1 {
		t.Fatalf("after a refused token = %+v (%d objects asked for), want one ETag listing and only the new object", st, e.remote.objects-objects)
	}
	if st := e.sync(t); st.Skipped != 1 {
		t.Fatalf("the recovered token is not used: %+v", st)
	}
}

func TestAServerWithoutSyncTokenConvergesByCTagAndETags(t *testing.T) {
	e := newEnv(t, "")
	e.remote.stripSyncToken = true
	e.seed(t, "work", 20, day)
	if st := e.sync(t); st.Fetched != 20 || st.FullCompares != 1 || e.remote.changes != 0 {
		t.Fatalf("initial = %+v, %d REPORTs", st, e.remote.changes)
	}
	if st := e.sync(t); st.Skipped != 1 || e.remote.etags != 1 {
		t.Fatalf("no-op without sync-token = %+v (%d ETag listings): the ctag should skip it", st, e.remote.etags)
	}
	e.serverPut(t, e.href("work", "work-1@test.ics"), event("work-1@test", "changed", day))
	if st := e.sync(t); st.Fetched != 1 || st.FullCompares != 1 {
		t.Fatalf("change without sync-token = %+v", st)
	}
}

// The core story for calendars: Radicale is unreachable, the user
// creates, edits and deletes; it all shows locally at once; when it is
// back every change reaches it once, and the outage closes with counts.
func TestOfflineChangesReachRadicaleOnceItIsBack(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	e.seed(t, "work", 3, day)
	e.sync(t)
	cals, _ := e.db.Calendars(ctx, "work")
	e.proxy.Down()

	newID, err := e.local.Add(ctx, cals[0].ID, ical.Event{Summary: "Planning", Start: day.Add(72 * time.Hour), End: day.Add(73 * time.Hour), RRule: "FREQ=WEEKLY;COUNT=4"})
	if err != nil {
		t.Fatal(err)
	}
	edited := e.objectByUID(t, "work-0@test")
	title := "Renamed offline"
	if err := e.local.Edit(ctx, edited.ID, ical.Change{Summary: &title}); err != nil {
		t.Fatal(err)
	}
	if err := e.local.Edit(ctx, edited.ID, ical.Change{Summary: &title}); err != nil { // coalesces
		t.Fatal(err)
	}
	gone := e.objectByUID(t, "work-1@test")
	if err := e.local.Delete(ctx, gone.ID); err != nil {
		t.Fatal(err)
	}
	if e.count(t) != 3 { // 3 seeded + 1 new - 1 deleted
		t.Fatalf("local view has %d events", e.count(t))
	}

	e.start(t)
	waitFor(t, "outage opened", 15*time.Second, func() bool {
		os, _ := e.db.Outages(ctx, 0)
		return len(os) == 1 && os[0].Open()
	})
	e.proxy.Up()
	e.worker.Wake()
	waitFor(t, "queue drained", 20*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 3 })
	e.stop()

	created, _ := e.db.CalObjectByID(ctx, newID)
	if o, ok := e.serverGet(t, created.Href); !ok || !strings.Contains(string(o.Data), "Planning") || o.ETag != created.ETag {
		t.Fatalf("created event on the server: %v %q (etag %s, stored %s)", ok, o.Data, o.ETag, created.ETag)
	}
	if o, _ := e.serverGet(t, edited.Href); !strings.Contains(string(o.Data), "Renamed offline") {
		t.Fatalf("edit not on the server: %q", o.Data)
	}
	if _, ok := e.serverGet(t, gone.Href); ok {
		t.Fatal("the deleted event is still on the server")
	}
	os, _ := e.db.Outages(ctx, 0)
	if len(os) != 1 || os[0].Open() || os[0].Queued != 3 || os[0].Replayed != 3 {
		t.Fatalf("outage = %+v, want closed with 3 queued and 3 replayed", os)
	}
	objects := e.remote.objects
	e.sync(t)
	if e.count(t) != 3 || e.remote.objects-objects > 0 {
		t.Fatalf("after the replay: %d events, %d downloaded again", e.count(t), e.remote.objects-objects)
	}
}

// createThenCrash adds the event "Once" to a synced calendar and replays
// its create up to the server, then "crashes": nothing of the outcome is
// recorded, the action stays in flight. It returns the object and the
// claimed action.
func (e *env) createThenCrash(t *testing.T) (int64, store.OutboxRow) {
	t.Helper()
	ctx := context.Background()
	e.seed(t, "work", 1, day)
	e.sync(t)
	cals, _ := e.db.Calendars(ctx, "work")
	id, err := e.local.Add(ctx, cals[0].ID, ical.Event{Summary: "Once", Start: day, End: day.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	row, ok, err := e.db.ClaimOutbox(ctx, "work", []string{"cal.put"})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := e.exec.Execute(ctx, row); err != nil {
		t.Fatal(err)
	}
	return id, row
}

// A create whose PUT reached the server but whose outcome was not recorded
// (kill -9 right after it) is recognised by its UID: no second event.
func TestACreateReplayedAfterACrashIsNotDoubled(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	id, row := e.createThenCrash(t)
	row.Attempts++
	apply, err := e.exec.Execute(ctx, row) // the restarted daemon replays it
	if err != nil || apply == nil {
		t.Fatalf("replay after the crash: %v", err)
	}
	if err := e.db.Write(ctx, apply); err != nil {
		t.Fatal(err)
	}
	refs, err := e.direct.ETags(ctx, "/"+e.rad.User+"/work/")
	if err != nil || len(refs) != 2 {
		t.Fatalf("server has %d objects (%v), want 2: no duplicate", len(refs), err)
	}
	if o, _ := e.db.CalObjectByID(ctx, id); o.LocalState != store.CalSynced || o.ETag == "" {
		t.Fatalf("object after the replay = %+v", o)
	}
}

// A create whose PUT reached the server unrecorded (kill -9), then an
// edit made before the restart: the replay of the create finds its own
// event at an older version and sends the edit over it, so the edit is
// on the server, once, with no conflict (found by the chaos test: 9 of
// 10 edits reached the server).
func TestACreateReplayedAfterACrashCarriesTheEditMadeSince(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	id, row := e.createThenCrash(t)
	title := "edited after the crash"
	if err := e.local.Edit(ctx, id, ical.Change{Summary: &title}); err != nil {
		t.Fatal(err)
	}
	// The restarted daemon puts the action that was in flight back in the
	// queue, then replays what is queued, in order.
	if err := e.db.Write(ctx, func(tx *store.Tx) error { return tx.RequeueOutbox(ctx, row.ID) }); err != nil {
		t.Fatal(err)
	}
	for {
		row, ok, err := e.db.ClaimOutbox(ctx, "work", []string{"cal.put"})
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		row.Attempts++
		apply, err := e.exec.Execute(ctx, row)
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		err = e.db.Write(ctx, func(tx *store.Tx) error {
			if apply != nil {
				if err := apply(tx); err != nil {
					return err
				}
			}
			return tx.FinishOutbox(ctx, row.ID, store.OutboxDone, "", row.CreatedAt)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	e.sync(t)
	if got, _ := e.db.CalObjectByID(ctx, id); got.LocalState != store.CalSynced || got.Summary != title {
		t.Fatalf("after the replay and a sync: %+v", got)
	}
	refs, err := e.direct.ETags(ctx, "/"+e.rad.User+"/work/")
	if err != nil || len(refs) != 2 {
		t.Fatalf("server has %d objects (%v), want 2: no duplicate", len(refs), err)
	}
	for _, ref := range refs {
		obj, err := e.direct.Get(ctx, ref.Href)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(obj.Data), "Once") {
			t.Fatalf("the server kept the version before the edit:\n%s", obj.Data)
		}
	}
	if cs, _ := e.db.Conflicts(ctx, store.ConflictFilter{}); len(cs) != 0 {
		t.Fatalf("a conflict was recorded: %+v", cs)
	}
}

// An edit whose PUT reached the server but whose outcome was not recorded
// (kill -9 right after it) meets its own version on the replay: the 412
// of its stale If-Match is not a conflict (found by the chaos test).
func TestAnEditReplayedAfterACrashIsNotAConflict(t *testing.T) {
	e := newEnv(t, "")
	ctx := context.Background()
	e.seed(t, "work", 1, day)
	e.sync(t)
	o := e.objectByUID(t, "work-0@test")
	title := "edited once"
	if err := e.local.Edit(ctx, o.ID, ical.Change{Summary: &title}); err != nil {
		t.Fatal(err)
	}
	row, ok, err := e.db.ClaimOutbox(ctx, "work", []string{"cal.put"})
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if _, err := e.exec.Execute(ctx, row); err != nil { // reached the server; "crash"
		t.Fatal(err)
	}
	row.Attempts++
	apply, err := e.exec.Execute(ctx, row)
	if err != nil || apply == nil {
		t.Fatalf("replay after the crash: %v", err)
	}
	if err := e.db.Write(ctx, apply); err != nil {
		t.Fatal(err)
	}
	if got := e.objectByUID(t, "work-0@test"); got.LocalState != store.CalSynced || got.Summary != title {
		t.Fatalf("after the replay: %+v", got)
	}
	if cs, _ := e.db.Conflicts(ctx, store.ConflictFilter{}); len(cs) != 0 {
		t.Fatalf("a conflict was recorded: %+v", cs)
	}
}
