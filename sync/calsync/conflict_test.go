package calsync_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

// editedOnBothSides: the user edits work-0 offline while another client
// edits it on the server (with serverModified as its LAST-MODIFIED); then
// the queue is replayed and meets a real 412 from Radicale.
func editedOnBothSides(t *testing.T, policy string, serverModified time.Time) (*env, store.CalObject) {
	t.Helper()
	e := newEnv(t, policy)
	ctx := context.Background()
	e.seed(t, "work", 1, day)
	e.sync(t)
	o := e.objectByUID(t, "work-0@test")
	mine := "mine"
	if err := e.local.Edit(ctx, o.ID, ical.Change{Summary: &mine}); err != nil {
		t.Fatal(err)
	}
	theirs := strings.Replace(string(event("work-0@test", "theirs", day)), "DTSTAMP:", "LAST-MODIFIED:"+serverModified.UTC().Format("20060102T150405Z")+"\r\nDTSTAMP:", 1)
	e.serverPut(t, o.Href, []byte(theirs))
	e.start(t)
	waitFor(t, "the replay's outcome", 10*time.Second, func() bool {
		n := outboxStates(t, e.db)
		return n[store.OutboxDone]+n[store.OutboxConflict] == 1
	})
	e.stop()
	return e, o
}

func serverSummary(t *testing.T, e *env, href string) string {
	t.Helper()
	o, ok := e.serverGet(t, href)
	if !ok {
		return "(gone)"
	}
	f := calsync.Fields(o.Data)
	return f.Summary
}

func TestConflictPolicies(t *testing.T) {
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	tests := []struct {
		policy         string
		serverModified time.Time
		wantServer     string // summary on the server afterwards
		wantLocal      string // summary in the mirror afterwards
		wantState      store.OutboxState
		wantOpen       bool // a conflict waits for a person
	}{
		{"ask", past, "theirs", "theirs", store.OutboxConflict, true},
		{"server-wins", past, "theirs", "theirs", store.OutboxDone, false},
		{"local-wins", future, "mine", "mine", store.OutboxDone, false},
		{"newest", past, "mine", "mine", store.OutboxDone, false},       // ours is newer
		{"newest", future, "theirs", "theirs", store.OutboxDone, false}, // theirs is newer
	}
	for _, tt := range tests {
		t.Run(tt.policy+"/server modified "+map[bool]string{true: "later", false: "earlier"}[tt.serverModified.Equal(future)], func(t *testing.T) {
			e, o := editedOnBothSides(t, tt.policy, tt.serverModified)
			if got := serverSummary(t, e, o.Href); got != tt.wantServer {
				t.Errorf("server has %q, want %q", got, tt.wantServer)
			}
			if got := e.objectByUID(t, "work-0@test"); got.Summary != tt.wantLocal || got.LocalState != store.CalSynced {
				t.Errorf("mirror has %q (%q), want %q synced", got.Summary, got.LocalState, tt.wantLocal)
			}
			if n := outboxStates(t, e.db); n[tt.wantState] != 1 {
				t.Errorf("outbox = %v, want one %s", n, tt.wantState)
			}
			cs, _ := e.db.Conflicts(context.Background(), store.ConflictFilter{Account: "work"})
			if len(cs) != 1 || cs[0].Open() != tt.wantOpen || cs[0].Policy != tt.policy || string(cs[0].LocalVersion) == "" {
				t.Fatalf("conflicts = %+v", cs)
			}
		})
	}
}

func TestAskedConflictResolvedForTheLocalSideReplaysItOnce(t *testing.T) {
	e, o := editedOnBothSides(t, "ask", time.Now())
	ctx := context.Background()
	cs, _ := e.db.Conflicts(ctx, store.ConflictFilter{OpenOnly: true})
	if len(cs) != 1 {
		t.Fatalf("open conflicts = %d", len(cs))
	}
	if err := e.local.Resolve(ctx, cs[0].ID, calsync.TakeLocal); err != nil {
		t.Fatal(err)
	}
	if got := e.objectByUID(t, "work-0@test"); got.Summary != "mine" {
		t.Fatalf("taking the local side shows %q", got.Summary)
	}
	e.start(t)
	waitFor(t, "replay", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 1 })
	e.stop()
	if got := serverSummary(t, e, o.Href); got != "mine" {
		t.Fatalf("server has %q after taking the local side", got)
	}
	if err := e.local.Resolve(ctx, cs[0].ID, calsync.TakeRemote); err == nil {
		t.Fatal("a resolved conflict was resolved again")
	}
}

func TestDeletedHereEditedThereKeepsTheEventUntilAPersonDecides(t *testing.T) {
	e := newEnv(t, "ask")
	ctx := context.Background()
	e.seed(t, "work", 1, day)
	e.sync(t)
	o := e.objectByUID(t, "work-0@test")
	if err := e.local.Delete(ctx, o.ID); err != nil {
		t.Fatal(err)
	}
	e.serverPut(t, o.Href, event("work-0@test", "still needed", day))
	e.start(t)
	waitFor(t, "conflict", 10*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxConflict] == 1 })
	e.stop()
	if got := e.objectByUID(t, "work-0@test"); got.Summary != "still needed" || got.LocalState != store.CalSynced {
		t.Fatalf("mirror = %q (%q), want the server's edit back", got.Summary, got.LocalState)
	}
	if got := serverSummary(t, e, o.Href); got != "still needed" {
		t.Fatalf("server = %q", got)
	}
}
