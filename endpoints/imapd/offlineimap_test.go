package imapd_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

// offlineimap (offlineimap3) is a second real client, written in Python
// on imaplib2 and not against this server: a one-shot sync pulls the
// whole mirror into a Maildir, every folder and every message byte for
// byte (line ends aside) with its flags.
func TestOfflineimapPullsTheMirrorIntoAMaildir(t *testing.T) {
	bin := offlineimapBinary(t)
	m := newMirror(t)
	m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0, imap.FlagSeen)
	m.appendMsg(t, "INBOX", multipart("two@x"), t0.Add(time.Hour), imap.FlagFlagged)
	m.appendMsg(t, "Archive", message("old@x", "archived", "old"), t0.Add(-time.Hour))
	if err := m.c.Create("Lists/Go", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m.appendMsg(t, "Lists/Go", message("go@x", "go", "gophers"), t0)
	m.sync(t)
	addr := startEndpoint(t, m.db, 0)

	dir := t.TempDir()
	maildir := filepath.Join(dir, "Mail")
	rc := writeOfflineimaprc(t, dir, addr, maildir)
	out := runOfflineimap(t, bin, rc, "pull")

	got := maildirContents(t, maildir)
	want := mirrorContents(t, m.db)
	if strings.Join(keys(got), "|") != strings.Join(keys(want), "|") {
		t.Fatalf("folders/messages:\n maildir %v\n mirror  %v\nofflineimap said:\n%s", keys(got), keys(want), out)
	}
	for k, w := range want {
		if !bytes.Equal(got[k].body, bytes.ReplaceAll(w.body, []byte("\r\n"), []byte("\n"))) {
			t.Errorf("%s: body differs:\n%q\n mirror:\n%q", k, got[k].body, w.body)
		}
		if got[k].flags != w.flags {
			t.Errorf("%s: maildir flags %q, mirror %q", k, got[k].flags, w.flags)
		}
	}
}

// offlineimapBinary finds offlineimap; in CI its absence is a failure.
func offlineimapBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("offlineimap")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("offlineimap is not installed (Debian package offlineimap3; scripts/install-test-deps.sh)")
		}
		t.Skip("offlineimap is not installed (Debian package offlineimap3)")
	}
	return bin
}

// runOfflineimap runs one sync pass and returns what offlineimap said.
func runOfflineimap(t *testing.T, bin, rc, what string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-c", rc, "-o", "-u", "basic").CombinedOutput()
	if err != nil {
		t.Fatalf("offlineimap %s: %v\n%s", what, err, out)
	}
	t.Logf("offlineimap %s:\n%s", what, out)
	return out
}

// writeOfflineimaprc writes a two-way account between holdover's
// endpoint and a Maildir with nested folders (sep = /), its state kept
// beside it.
func writeOfflineimaprc(t *testing.T, dir, addr, maildir string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "offlineimaprc")
	err := os.WriteFile(rc, []byte(fmt.Sprintf(`[general]
accounts = holdover
metadata = %s
ui = basic

[Account holdover]
localrepository = near
remoterepository = far

[Repository near]
type = Maildir
localfolders = %s
sep = /

[Repository far]
type = IMAP
remotehost = %s
remoteport = %s
remoteuser = %s
remotepass = %s
ssl = no
starttls = no
`, filepath.Join(dir, "state"), maildir, host, port, localUser, localPass)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}
