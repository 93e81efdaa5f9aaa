package apiv1

import (
	"testing"
	"time"

	"github.com/holdover/holdover/store"
)

func TestWordsAPersonReads(t *testing.T) {
	for _, tc := range []struct {
		name  string
		state store.OutboxState
		down  bool
		want  string
	}{
		{"a failed action whose provider is down is waiting, not failed", store.OutboxFailed, true, "waiting"},
		{"a failed action whose provider answers is retrying", store.OutboxFailed, false, "retrying"},
		{"a queued action is waiting", store.OutboxPending, false, "waiting"},
		{"a conflict needs a person", store.OutboxConflict, false, "needs you"},
		{"a permanent error gave up", store.OutboxDead, true, "gave up"},
	} {
		if got := ActionWords(tc.state, tc.down); got != tc.want {
			t.Errorf("%s: %q", tc.name, got)
		}
	}
	now := time.Date(2026, 3, 2, 14, 14, 0, 0, time.Local)
	since := now.Add(-12 * time.Minute)
	s := ServiceStatus{State: store.HealthDown, Outage: &Outage{StartedAt: since}}
	if got := ServiceWords(s, now); got != "down since 14:02 (12 min)" {
		t.Errorf("ServiceWords = %q", got)
	}
	for kind, want := range map[[2]string]string{
		{"mail.flags", "mail:12"}:       "flag change",
		{"file.put", "file:docs/a.txt"}: "upload: docs/a.txt",
		{"mail.future", "x"}:            "mail.future", // an unknown kind is shown as it is
	} {
		if got := ActionWhat(kind[0], kind[1]); got != want {
			t.Errorf("ActionWhat%q = %q, want %q", kind, got, want)
		}
	}
	q := NewQueue(map[string]int{"gave up": 1, "waiting": 8})
	if got := QueueWords(q); got != "8 waiting, 1 gave up" {
		t.Errorf("QueueWords = %q", got)
	}
}
