package main

import (
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/store"
)

// An error from before a service worked again is history: status says
// "earlier error", and keeps "last error" for a service that is not up.
func TestStatusTellsAnEarlierErrorFromACurrentOne(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	st := daemon.Status{Accounts: []daemon.AccountStatus{{Name: "work", Configured: true, Services: []daemon.ServiceStatus{
		{Service: "imap", Kind: "mail", State: store.HealthUp, Words: "up", LastError: "connection reset by peer"},
		{Service: "smtp", Kind: "sending", State: store.HealthDown, Words: "down since 11:50 (10 min)", LastError: "no answer within 20s"},
	}}}}
	var b strings.Builder
	printStatus(&b, st, now)
	out := b.String()
	for _, want := range []string{"earlier error: connection reset by peer", "last error: no answer within 20s"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "last error: connection reset") {
		t.Errorf("an up service's old error is shown as current:\n%s", out)
	}
}
