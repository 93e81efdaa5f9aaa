package imapd_test

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
)

// mbsync (isync) is a real client that was not written against this
// server: a full pull of the mirror into a Maildir must give every
// folder and every message byte for byte (line ends aside) with its
// flags.
func TestMbsyncPullsTheMirrorIntoAMaildir(t *testing.T) {
	bin := testenv.Tool(t, "mbsync")
	m := pullMirror(t)
	addr := startEndpoint(t, m.db, 0)
	dir := t.TempDir()
	maildir := filepath.Join(dir, "Mail")
	rc := writeMbsyncrc(t, dir, addr, maildir, pullOnly)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-c", rc, "-a").CombinedOutput()
	if err != nil {
		t.Fatalf("mbsync: %v\n%s", err, out)
	}

	got := maildirContents(t, maildir)
	want := mirrorContents(t, m.db)
	if strings.Join(keys(got), "|") != strings.Join(keys(want), "|") {
		t.Fatalf("folders/messages:\n maildir %v\n mirror  %v\nmbsync said:\n%s", keys(got), keys(want), out)
	}
	for k, w := range want {
		// mbsync writes Maildir files with LF line ends and adds its
		// X-TUID header (its own tracking, for every client it copies to).
		body := tuid.ReplaceAll(got[k].body, nil)
		if !bytes.Equal(body, bytes.ReplaceAll(w.body, []byte("\r\n"), []byte("\n"))) {
			t.Errorf("%s: body differs:\n%q\n mirror:\n%q", k, body, w.body)
		}
		if got[k].flags != w.flags {
			t.Errorf("%s: maildir flags %q, mirror %q", k, got[k].flags, w.flags)
		}
	}
}

var tuid = regexp.MustCompile(`(?m)^X-TUID: [^\n]*\n`)

type entry struct {
	body  []byte
	flags string // as Maildir letters: F, S
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// maildirContents reads "folder/Message-ID" → message from a Maildir++
// tree as mbsync wrote it (SubFolders Verbatim: a folder per path).
func maildirContents(t *testing.T, root string) map[string]entry {
	t.Helper()
	out := map[string]entry{}
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		sub := filepath.Base(filepath.Dir(p))
		if sub != "cur" && sub != "new" {
			return nil
		}
		folder, _ := filepath.Rel(root, filepath.Dir(filepath.Dir(p)))
		body, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var flags string
		if i := strings.LastIndex(info.Name(), ":2,"); i >= 0 {
			for _, c := range info.Name()[i+3:] {
				if c == 'F' || c == 'S' {
					flags += string(c)
				}
			}
		}
		out[folder+"/"+messageID(body)] = entry{body: body, flags: flags}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func mirrorContents(t *testing.T, db *store.DB) map[string]entry {
	t.Helper()
	ctx := context.Background()
	msgs, err := db.ListMailMessages(ctx, store.MailFilter{Account: "work"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]entry{}
	for _, msg := range msgs {
		r, err := db.OpenMailBody(ctx, msg.BodyID)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(r)
		if err != nil {
			t.Fatal(err)
		}
		var flags string
		for _, f := range []struct {
			flag   string
			letter string
		}{{`\Flagged`, "F"}, {`\Seen`, "S"}} {
			for _, x := range msg.Flags {
				if strings.EqualFold(x, f.flag) {
					flags += f.letter
				}
			}
		}
		out[msg.Folder+"/"+messageID(body)] = entry{body: body, flags: flags}
	}
	return out
}

func messageID(raw []byte) string {
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSuffix(line, "\r"), "Message-ID: "); ok {
			return strings.Trim(v, "<>")
		}
	}
	return "?"
}
