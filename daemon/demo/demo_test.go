package demo

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// holdoverBin builds the real binary: the demo's cron job runs its
// sendmail, which a test binary is not.
func holdoverBin(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "holdover")
	if out, err := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", bin, "github.com/holdover/holdover/cmd/holdover").CombinedOutput(); err != nil {
		t.Fatalf("build holdover: %v\n%s", err, out)
	}
	return bin
}

func TestDemoPlaysTheOutageAndTheRecovery(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), Options{Out: &out, Version: "test", Holdover: holdoverBin(t)}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{"status page: http://127.0.0.1:", "/login?code=", "INBOX", "imap   down", "smtp   down", "caldav down", "webdav down",
		"signed in with OAuth2 at the demo's identity provider", "its sign-in unreachable",
		"imap   down, identity provider unreachable",
		"a cron job mailed \"Nightly backup report\" through `holdover sendmail -oi -t`: exit 0",
		"The relay received: \"Status report\", \"Nightly backup report\" (once each)",
		"IMAP and SMTP signed in with OAuth2 (token refreshed after the outage)", "in Archive",
		"Budget review", "The calendar provider has \"Offsite planning\" (once)", "the mirror equals the provider",
		"a calendar app created \"Dentist (from a calendar app)\" through holdover's CalDAV endpoint", "It has \"Dentist (from a calendar app)\" (once) too",
		"The files provider has your kickoff notes and trip plan", "through holdover's IMAP endpoint", "moved by the mail app through holdover, in Archive (once)", "yours as \"Budget 2027.conflict-"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	// The queue during the outage: the 11 actions wait (the cron job's
	// report, the mail app's move and the calendar app's event among
	// them), or 12 when the files watcher saw the demo's own edit twice; a
	// worker may be trying one at that instant ("1 sending, 10 waiting");
	// none "failed".
	queued := 0
	if m := regexp.MustCompile(`outbox: (?:(\d+) sending, )?(\d+) waiting\n`).FindStringSubmatch(out.String()); m != nil {
		sending, _ := strconv.Atoi(m[1])
		waiting, _ := strconv.Atoi(m[2])
		queued = sending + waiting
	}
	if queued < 11 || queued > 12 || strings.Contains(out.String(), "failed") {
		t.Errorf("demo output lacks the waiting queue (outbox: 11 waiting):\n%s", out.String())
	}
}
