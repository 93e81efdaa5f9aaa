package daemon

import (
	"testing"

	"github.com/holdover/holdover/store"
)

func TestActionsBehindAnOpenConflictSayWhichOne(t *testing.T) {
	row := func(id int64, key string, state store.OutboxState) store.OutboxRow {
		return store.OutboxRow{ID: id, OutboxAction: store.OutboxAction{Account: "work", TargetKey: key}, State: state}
	}
	rows := []store.OutboxRow{
		row(1, "cal:7", store.OutboxConflict), // met conflict 3
		row(2, "cal:7", store.OutboxPending),  // behind it
		row(3, "cal:8", store.OutboxPending),  // another event
		row(4, "cal:7", store.OutboxDone),     // finished: waits for nothing
	}
	open := []store.Conflict{{ID: 3, Account: "work", TargetKey: "cal:7", OutboxID: 1}}
	got := waitingFor(rows, open)
	if len(got) != 1 || got[2] != 3 {
		t.Fatalf("waitingFor = %v, want action 2 waiting for conflict 3", got)
	}
}
