package imapd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
)

// offlineimap (offlineimap3) is a second real client, written in Python
// on imaplib2 and not against this server: a one-shot sync pulls the
// whole mirror into a Maildir, every folder and every message byte for
// byte (line ends aside) with its flags.
func TestOfflineimapPullsTheMirrorIntoAMaildir(t *testing.T) {
	bin := testenv.Tool(t, "offlineimap")
	m := pullMirror(t)
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

// offlineimap pushes what a person did in the Maildir (a message read and
// flagged, one deleted) to holdover, which queues each as a local change
// (offlineimap sends +FLAGS \Seen and +FLAGS \Flagged apart, which
// coalesce into one delta, and deletes as +FLAGS \Deleted then EXPUNGE).
// After the replay Dovecot has each change exactly once, on the same
// message (its UID unchanged, nothing uploaded again), and neither a sync
// pass nor offlineimap again changes anything. With Dovecot down while
// offlineimap pushes, offlineimap does not notice, and the changes arrive
// once Dovecot is back.
func TestOfflineimapPushesMaildirChangesThroughTheOutboxOnce(t *testing.T) {
	bin := testenv.Tool(t, "offlineimap")
	for _, tc := range []struct {
		name   string
		outage bool
	}{
		{"provider up", false},
		{"provider down while offlineimap pushes", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			m := newMirror(t)
			m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0)
			m.appendMsg(t, "INBOX", message("two@x", "second", "hello two"), t0.Add(time.Minute))
			m.appendMsg(t, "INBOX", message("three@x", "third", "hello three"), t0.Add(2*time.Minute))
			m.appendMsg(t, "Archive", message("old@x", "old", "archived"), t0.Add(-time.Hour), imap.FlagSeen)
			m.sync(t)
			addr := startWriter(t, m)
			c := login(t, addr)
			folders := []string{"INBOX", "Archive"}
			theirUIDs := localUIDs(t, m.c, folders...)
			ourUIDs := localUIDs(t, c, folders...)

			dir := t.TempDir()
			maildir := filepath.Join(dir, "Mail")
			rc := writeOfflineimaprc(t, dir, addr, maildir)
			runOfflineimap(t, bin, rc, "pull")
			names := messageKeys(t, m.db)
			if rows := outboxRows(t, m, names); len(rows) != 0 {
				t.Fatalf("the pull queued %v: reading is no change (BODY.PEEK)", rows)
			}

			flagMaildir(t, maildir, "INBOX", "two@x", "FS")
			if err := os.Remove(maildirFile(t, maildir, "INBOX", "three@x")); err != nil {
				t.Fatal(err)
			}
			if tc.outage {
				m.d.Stop()
			}
			runOfflineimap(t, bin, rc, "push")
			want := map[string]map[string]int{
				"INBOX":   {"one@x": 1, "two@x": 1},
				"Archive": {"old@x": 1},
			}
			sameCounts(t, "holdover after the push", counts(t, c, folders...), want)
			queued := outboxRows(t, m, names)
			wantQueued := []string{
				`mail.flags three@x {"add":["\\Deleted"]}`,
				"mail.delete three@x",
				`mail.flags two@x {"add":["\\Flagged","\\Seen"]}`,
			}
			if strings.Join(queued, "|") != strings.Join(wantQueued, "|") {
				t.Errorf("queued:\n %q\nwant\n %q", queued, wantQueued)
			}
			if tc.outage {
				m.d.Restart(t)
				m.c = m.d.Client(t)
			}

			m.replay(t)
			done, err := m.db.ListOutbox(ctx, store.OutboxFilter{Account: "work", State: store.OutboxDone})
			if err != nil || len(done) != len(wantQueued) {
				t.Errorf("after the replay %d of %d actions are done (%v)", len(done), len(wantQueued), err)
			}
			sameCounts(t, "Dovecot after the replay", counts(t, m.c, folders...), want)
			theirs := byMessageID(t, m.c, "INBOX", &imap.FetchOptions{Flags: true})
			if got := sortedFlags(theirs["two@x"].Flags); !slices.Equal(got, []imap.Flag{imap.FlagFlagged, imap.FlagSeen}) {
				t.Errorf("Dovecot's flags of two@x: %v", got)
			}
			if got := sortedFlags(theirs["one@x"].Flags); len(got) != 0 {
				t.Errorf("Dovecot's flags of one@x, which nobody touched: %v", got)
			}
			sameUIDs(t, "Dovecot", theirUIDs, localUIDs(t, m.c, folders...))

			if st := m.sync(t); st.Downloaded != 0 || st.New != 0 {
				t.Errorf("sync pass after the replay: %d downloaded, %d new rows", st.Downloaded, st.New)
			}
			sameCounts(t, "holdover after a sync pass", counts(t, c, folders...), want)
			sameUIDs(t, "holdover", ourUIDs, localUIDs(t, c, folders...))

			// offlineimap again: nothing left to do either way.
			before := maildirNames(t, maildir)
			runOfflineimap(t, bin, rc, "again")
			if after := maildirNames(t, maildir); strings.Join(after, "|") != strings.Join(before, "|") {
				t.Errorf("offlineimap again changed the Maildir:\n %v\nwas\n %v", after, before)
			}
			if rows := outboxRows(t, m, names); strings.Join(rows, "|") != strings.Join(wantQueued, "|") {
				t.Errorf("the outbox after offlineimap again:\n %q\nwant only\n %q", rows, wantQueued)
			}
			sameCounts(t, "holdover after offlineimap again", counts(t, c, folders...), want)
		})
	}
}

// outboxRows lists the queued actions as "kind Message-ID [payload]",
// the payload without the message's row id (names names it) and its
// flag lists sorted (offlineimap's order of two STOREs is its own).
func outboxRows(t *testing.T, m *mirror, names map[string]string) []string {
	t.Helper()
	rows, err := m.db.ListOutbox(context.Background(), store.OutboxFilter{Account: "work"})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		var p map[string]any
		if err := json.Unmarshal(r.Payload, &p); err != nil {
			t.Fatalf("outbox %d: %v", r.ID, err)
		}
		delete(p, "message")
		for _, v := range p {
			if l, ok := v.([]any); ok {
				slices.SortFunc(l, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
			}
		}
		row := r.Kind + " " + names[r.TargetKey]
		if len(p) > 0 {
			b, _ := json.Marshal(p)
			row += " " + string(b)
		}
		out = append(out, row)
	}
	return out
}

// messageKeys maps the outbox's target key of each stored message
// ("mail:<row id>") to its Message-ID.
func messageKeys(t *testing.T, db *store.DB) map[string]string {
	t.Helper()
	msgs, err := db.ListMailMessages(context.Background(), store.MailFilter{Account: "work"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, msg := range msgs {
		out[fmt.Sprintf("mail:%d", msg.ID)] = msg.MessageID
	}
	return out
}

// maildirNames lists a Maildir's files (folder, sub-directory and name:
// offlineimap's UID and the flags are in the name), sorted.
func maildirNames(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		out = append(out, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// sameUIDs reports a message whose UID changed: a change that reached
// the server as a new copy instead of on the message itself.
func sameUIDs(t *testing.T, who string, before, after map[string]imap.UID) {
	t.Helper()
	for k, uid := range before {
		if a, ok := after[k]; ok && a != uid {
			t.Errorf("%s: %s: UID %d became %d", who, k, uid, a)
		}
	}
}
