package demo

import (
	"bytes"
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

func TestDemoPlaysTheOutageAndTheRecovery(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Out: &out, Version: "test"}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"status page: http://127.0.0.1:", "/login?code=", "INBOX", "imap   down", "smtp   down", "caldav down", "webdav down", "The relay received: \"Status report\" (once)", "in Archive",
		"Budget review", "The calendar provider has \"Offsite planning\" (once)", "the mirror equals the provider",
		"The files provider has your kickoff notes and trip plan", "yours as \"Budget 2027.conflict-"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	// The queue during the outage: the 8 actions wait, or 9 when the
	// files watcher saw the demo's own edit twice; a worker may be trying
	// one at that instant ("1 sending, 7 waiting"); none "failed".
	queued := 0
	if m := regexp.MustCompile(`outbox: (?:(\d+) sending, )?(\d+) waiting\n`).FindStringSubmatch(out.String()); m != nil {
		sending, _ := strconv.Atoi(m[1])
		waiting, _ := strconv.Atoi(m[2])
		queued = sending + waiting
	}
	if queued < 8 || queued > 9 || strings.Contains(out.String(), "failed") {
		t.Errorf("demo output lacks the waiting queue (outbox: 8 waiting):\n%s", out.String())
	}
}
