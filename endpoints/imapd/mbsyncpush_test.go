package imapd_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/holdover/holdover/internal/testenv"
)

// mbsync pushes what a person did in the Maildir (a flag, a message moved
// to another folder, one deleted) to holdover, which queues it; after the
// replay Dovecot has each change exactly once, and a sync pass downloads
// nothing and keeps every local UID. mbsync moves a message between
// folders as an APPEND to the target and \Deleted + EXPUNGE in the
// source. With Dovecot down while mbsync pushes, mbsync does not notice,
// and the changes arrive once Dovecot is back.
func TestMbsyncPushesMaildirChangesThroughTheOutboxOnce(t *testing.T) {
	bin := testenv.Tool(t, "mbsync")
	for _, tc := range []struct {
		name   string
		outage bool
	}{
		{"provider up", false},
		{"provider down while mbsync pushes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMirror(t)
			m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0, imap.FlagSeen)
			m.appendMsg(t, "INBOX", message("two@x", "second", "hello two"), t0.Add(time.Minute))
			m.appendMsg(t, "INBOX", message("three@x", "third", "hello three"), t0.Add(2*time.Minute))
			m.appendMsg(t, "Archive", message("old@x", "old", "archived"), t0.Add(-time.Hour))
			m.sync(t)
			addr := startWriter(t, m)
			c := login(t, addr)
			folders := []string{"INBOX", "Archive"}
			before := localUIDs(t, c, folders...)

			dir := t.TempDir()
			maildir := filepath.Join(dir, "Mail")
			rc := writeMbsyncrc(t, dir, addr, maildir, twoWay)
			mbsync := func(what string) {
				t.Helper()
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				out, err := exec.CommandContext(ctx, bin, "-c", rc, "-a").CombinedOutput()
				if err != nil {
					t.Fatalf("mbsync %s: %v\n%s", what, err, out)
				}
			}
			mbsync("pull")

			flagMaildir(t, maildir, "INBOX", "two@x", "F")
			moveMaildir(t, maildir, "INBOX", "Archive", "one@x")
			os.Remove(maildirFile(t, maildir, "INBOX", "three@x"))
			if tc.outage {
				m.d.Stop()
			}
			mbsync("push")
			want := map[string]map[string]int{
				"INBOX":   {"two@x": 1},
				"Archive": {"old@x": 1, "one@x": 1},
			}
			sameCounts(t, "holdover after the push", counts(t, c, folders...), want)
			if tc.outage {
				m.d.Restart(t)
				m.c = m.d.Client(t)
			}

			m.replay(t)
			sameCounts(t, "Dovecot after the replay", counts(t, m.c, folders...), want)
			theirs := byMessageID(t, m.c, "INBOX", &imap.FetchOptions{Flags: true})
			if !containsFlag(theirs["two@x"].Flags, imap.FlagFlagged) {
				t.Errorf("Dovecot's flags of two@x: %v", theirs["two@x"].Flags)
			}
			theirs = byMessageID(t, m.c, "Archive", &imap.FetchOptions{Flags: true})
			if !containsFlag(theirs["one@x"].Flags, imap.FlagSeen) {
				t.Errorf("Dovecot's flags of the moved one@x: %v", theirs["one@x"].Flags)
			}
			if st := m.sync(t); st.Downloaded != 0 || st.New != 0 {
				t.Errorf("sync pass after the replay: %d downloaded, %d new rows", st.Downloaded, st.New)
			}
			sameCounts(t, "holdover after a sync pass", counts(t, c, folders...), want)
			after := localUIDs(t, c, folders...)
			for k, uid := range before {
				if a, ok := after[k]; ok && a != uid {
					t.Errorf("%s: local UID %d became %d", k, uid, a)
				}
			}
			// mbsync again: nothing left to do either way.
			mbsync("again")
			sameCounts(t, "holdover after mbsync again", counts(t, c, folders...), want)
			if got := maildirContents(t, maildir); len(got) != 3 {
				t.Errorf("the Maildir after mbsync again: %v", keys(got))
			}
		})
	}
}

func containsFlag(flags []imap.Flag, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(string(x), string(f)) {
			return true
		}
	}
	return false
}

// Channel modes for writeMbsyncrc: pullOnly copies holdover's folders
// down; twoWay also sends up what the person does in the Maildir,
// deletions included.
const (
	pullOnly = "Sync Pull"
	twoWay   = "Sync All\nExpunge Both"
)

// writeMbsyncrc writes a channel between holdover's endpoint and a
// Maildir (mode: pullOnly or twoWay) and returns the file's path.
func writeMbsyncrc(t *testing.T, dir, addr, maildir, mode string) string {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	if err := os.MkdirAll(maildir, 0o700); err != nil {
		t.Fatal(err)
	}
	rc := filepath.Join(dir, "mbsyncrc")
	err := os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount holdover
Host %s
Port %s
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore far
Account holdover

MaildirStore near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel holdover
Far :far:
Near :near:
Patterns *
Create Near
%s
SyncState *
`, host, port, localUser, localPass, maildir, maildir, mode)), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

// maildirFile finds the file of a message in a Maildir folder.
func maildirFile(t *testing.T, root, folder, msgID string) string {
	t.Helper()
	for _, sub := range []string{"cur", "new"} {
		files, _ := filepath.Glob(filepath.Join(root, folder, sub, "*"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err == nil && messageID(b) == msgID {
				return f
			}
		}
	}
	t.Fatalf("no %s in the Maildir's %s", msgID, folder)
	return ""
}

// flagMaildir adds Maildir flag letters to a message, as a mail reader
// does (the letters sorted, after ":2,").
func flagMaildir(t *testing.T, root, folder, msgID, letters string) {
	t.Helper()
	f := maildirFile(t, root, folder, msgID)
	base, info, _ := strings.Cut(filepath.Base(f), ":2,")
	all := []byte(info + letters)
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			if all[j] < all[i] {
				all[i], all[j] = all[j], all[i]
			}
		}
	}
	if err := os.Rename(f, filepath.Join(filepath.Dir(filepath.Dir(f)), "cur", base+":2,"+string(all))); err != nil {
		t.Fatal(err)
	}
}

// uidInName is where mbsync keeps a message's far UID in its file name.
var uidInName = regexp.MustCompile(`,U=[0-9]+`)

// moveMaildir moves a message to another folder as a mail reader does:
// the file goes to the other folder, without mbsync's UID of the old one.
func moveMaildir(t *testing.T, root, from, to, msgID string) {
	t.Helper()
	f := maildirFile(t, root, from, msgID)
	name := uidInName.ReplaceAllString(filepath.Base(f), "")
	if err := os.Rename(f, filepath.Join(root, to, "cur", name)); err != nil {
		t.Fatal(err)
	}
}
