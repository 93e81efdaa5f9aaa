package imapd_test

import (
	"bufio"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/sync/outbox"
)

// startWriter serves the mirror with every write on, as the daemon does.
func startWriter(t *testing.T, m *mirror) string {
	t.Helper()
	return startEndpointWith(t, imapd.Options{DB: m.db, Flagger: &outbox.Local{DB: m.db, SpoolDir: t.TempDir()}, NoChange: outbox.ErrNoChange})
}

// counts returns folder → Message-ID → how many copies, as c sees them.
func counts(t *testing.T, c *imapclient.Client, folders ...string) map[string]map[string]int {
	t.Helper()
	out := map[string]map[string]int{}
	for _, f := range folders {
		if _, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatalf("select %s: %v", f, err)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{Envelope: true}).Collect()
		if err != nil {
			t.Fatalf("fetch %s: %v", f, err)
		}
		out[f] = map[string]int{}
		for _, msg := range msgs {
			out[f][msg.Envelope.MessageID]++
		}
	}
	return out
}

// localUIDs returns folder/Message-ID → local UID, as the endpoint
// answers them.
func localUIDs(t *testing.T, c *imapclient.Client, folders ...string) map[string]imap.UID {
	t.Helper()
	out := map[string]imap.UID{}
	for _, f := range folders {
		for id, msg := range byMessageID(t, c, f, &imap.FetchOptions{}) {
			out[f+"/"+id] = msg.UID
		}
	}
	return out
}

func sameCounts(t *testing.T, who string, got, want map[string]map[string]int) {
	t.Helper()
	for f, w := range want {
		for id, n := range w {
			if got[f][id] != n {
				t.Errorf("%s: %s/%s: %d copies, want %d", who, f, id, got[f][id], n)
			}
		}
		for id, n := range got[f] {
			if _, ok := w[id]; !ok {
				t.Errorf("%s: %s/%s: %d unexpected copies", who, f, id, n)
			}
		}
	}
}

func TestWritesAreLocalChangesThatReachTheProviderOnce(t *testing.T) {
	m := newMirror(t)
	m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0)
	m.appendMsg(t, "INBOX", message("two@x", "second", "hello two"), t0.Add(time.Minute))
	m.appendMsg(t, "INBOX", message("three@x", "third", "hello three"), t0.Add(2*time.Minute))
	m.appendMsg(t, "Archive", message("old@x", "old", "archived"), t0.Add(-time.Hour))
	m.sync(t)
	addr := startWriter(t, m)
	c := login(t, addr)
	if !c.Caps().Has(imap.CapMove) || !c.Caps().Has(imap.CapUIDPlus) {
		t.Fatalf("capabilities %v: MOVE and UIDPLUS are offered", c.Caps())
	}
	archive, err := c.Status("Archive", &imap.StatusOptions{UIDNext: true, UIDValidity: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != 3 {
		t.Fatalf("select: %v %v", sel, err)
	}

	t.Run("UID MOVE answers COPYUID with new local UIDs in the destination and EXPUNGE", func(t *testing.T) {
		data, err := c.Move(imap.UIDSetNum(1), "Archive").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if data.UIDValidity != archive.UIDValidity || data.SourceUIDs.String() != "1" || data.DestUIDs.String() != imap.UIDSetNum(archive.UIDNext).String() {
			t.Fatalf("COPYUID %d %v %v, want %d 1 %v", data.UIDValidity, data.SourceUIDs, data.DestUIDs, archive.UIDValidity, archive.UIDNext)
		}
		if n := c.Mailbox().NumMessages; n != 2 {
			t.Fatalf("after MOVE the client counts %d messages, want 2", n)
		}
	})

	t.Run("UID COPY answers COPYUID and leaves the source", func(t *testing.T) {
		data, err := c.Copy(imap.UIDSetNum(2), "Archive").Wait()
		if err != nil {
			t.Fatal(err)
		}
		if data.DestUIDs.String() != imap.UIDSetNum(archive.UIDNext+1).String() {
			t.Fatalf("COPYUID dest %v, want %v", data.DestUIDs, archive.UIDNext+1)
		}
	})

	t.Run("EXPUNGE removes \\Deleted messages for good and shifts sequence numbers", func(t *testing.T) {
		// Sequence 2 is three@x now (one@x moved out).
		if err := c.Store(imap.SeqSetNum(2), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		seqs, err := c.Expunge().Collect()
		if err != nil || !slices.Equal(seqs, []uint32{2}) {
			t.Fatalf("EXPUNGE: %v %v", seqs, err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true, UID: true}).Collect()
		if err != nil || len(msgs) != 1 || msgs[0].Envelope.MessageID != "two@x" || msgs[0].UID != 2 {
			t.Fatalf("FETCH 1 after EXPUNGE: %v %v", msgs, err)
		}
	})

	t.Run("APPEND answers APPENDUID and the message is there at once", func(t *testing.T) {
		raw := message("new@x", "appended", "hello appended")
		cmd := c.Append("Archive", int64(len(raw)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagSeen}, Time: t0})
		cmd.Write([]byte(raw))
		cmd.Close()
		data, err := cmd.Wait()
		if err != nil {
			t.Fatal(err)
		}
		if data.UIDValidity != archive.UIDValidity || data.UID != archive.UIDNext+2 {
			t.Fatalf("APPENDUID %d %d, want %d %d", data.UIDValidity, data.UID, archive.UIDValidity, archive.UIDNext+2)
		}
		draft := message("draft@x", "draft", "unfinished")
		cmd = c.Append("Drafts", int64(len(draft)), &imap.AppendOptions{Flags: []imap.Flag{imap.FlagDraft}})
		cmd.Write([]byte(draft))
		cmd.Close()
		if _, err := cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		// SEARCH TEXT finds it: its body is indexed.
		if _, err := c.Select("Archive", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		found, err := c.UIDSearch(&imap.SearchCriteria{Text: []string{"appended"}}, nil).Wait()
		if err != nil || !slices.Equal(found.AllUIDs(), []imap.UID{data.UID}) {
			t.Fatalf("SEARCH TEXT: %v %v", found, err)
		}
	})

	t.Run("bad writes get a protocol answer", func(t *testing.T) {
		cmd := c.Append("Nowhere", 3, nil)
		cmd.Write([]byte("x\r\n"))
		cmd.Close()
		if _, err := cmd.Wait(); responseCode(err) != imap.ResponseCodeTryCreate {
			t.Errorf("APPEND to a folder that is not mirrored: %v", err)
		}
		if got := rawCommand(t, addr, fmt.Sprintf("APPEND Archive {%d}", imapd.AppendLimit+1)); !strings.HasPrefix(got, "NO [TOOBIG]") {
			t.Errorf("APPEND over the limit: %q, want NO [TOOBIG] before the literal is sent", got)
		}
		// A non-synchronizing literal (LITERAL+) is on its way already:
		// the NO comes first, then that session ends (RFC 7888 allows it),
		// never reading the message into memory.
		if got := rawCommand(t, addr, fmt.Sprintf("APPEND Archive {%d+}\r\nFrom: a@x\r\n\r\nbody", imapd.AppendLimit+1)); !strings.HasPrefix(got, "NO [TOOBIG]") {
			t.Errorf("non-synchronizing APPEND over the limit: %q, want NO [TOOBIG]", got)
		}
		cmd = c.Append("Archive", 0, nil)
		cmd.Close()
		if _, err := cmd.Wait(); responseCode(err) != imap.ResponseCodeCannot {
			t.Errorf("APPEND of nothing: %v", err)
		}
		if err := c.Create("New", nil).Wait(); responseCode(err) != imap.ResponseCodeCannot || !strings.Contains(err.Error(), "provider") {
			t.Errorf("CREATE: %v", err)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("the session after refused writes: %v", err)
		}
	})

	want := map[string]map[string]int{
		"INBOX":   {"two@x": 1},
		"Archive": {"old@x": 1, "one@x": 1, "two@x": 1, "new@x": 1},
		"Drafts":  {"draft@x": 1},
	}
	folders := []string{"INBOX", "Archive", "Drafts"}
	sameCounts(t, "holdover before the replay", counts(t, c, folders...), want)
	before := localUIDs(t, c, folders...)

	m.replay(t)
	sameCounts(t, "Dovecot after the replay", counts(t, m.c, folders...), want)
	for i := 0; i < 2; i++ {
		st := m.sync(t)
		if st.Downloaded != 0 || st.New != 0 {
			t.Errorf("sync pass %d after the replay: %d downloaded, %d new rows; the changes were the mirror's own", i+1, st.Downloaded, st.New)
		}
		sameCounts(t, "holdover after a sync pass", counts(t, c, folders...), want)
		if after := localUIDs(t, c, folders...); !mapsEqual(after, before) {
			t.Errorf("local UIDs changed:\n before %v\n after  %v", before, after)
		}
	}
	theirs := byMessageID(t, m.c, "Archive", &imap.FetchOptions{Flags: true})
	if !slices.Contains(theirs["new@x"].Flags, imap.FlagSeen) {
		t.Errorf("the appended message's flags on Dovecot: %v", theirs["new@x"].Flags)
	}
}

// The replay appended the message but its outcome was not recorded (a
// crash): the next sync pass finds the provider's copy and binds it to
// the local row instead of showing it twice, and the retried append sees
// that and appends nothing.
func TestAnAppendFoundByASyncPassBeforeItsReplayIsRecordedIsBoundNotDoubled(t *testing.T) {
	m := newMirror(t)
	m.sync(t)
	c := login(t, startWriter(t, m))
	raw := message("crash@x", "appended", "hello")
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	cmd.Write([]byte(raw))
	cmd.Close()
	data, err := cmd.Wait()
	if err != nil {
		t.Fatal(err)
	}
	m.appendMsg(t, "INBOX", raw, t0) // what the unrecorded replay did
	if st := m.sync(t); st.Downloaded != 0 {
		t.Errorf("the sync pass downloaded %d bodies", st.Downloaded)
	}
	m.replay(t)
	m.sync(t)
	want := map[string]map[string]int{"INBOX": {"crash@x": 1}}
	sameCounts(t, "holdover", counts(t, c, "INBOX"), want)
	sameCounts(t, "Dovecot", counts(t, m.c, "INBOX"), want)
	if got := localUIDs(t, c, "INBOX")["INBOX/crash@x"]; got != data.UID {
		t.Errorf("local UID %d, APPENDUID said %d", got, data.UID)
	}
}

func mapsEqual[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// rawCommand logs in on a connection of its own, sends one command line
// and returns its tagged answer without the tag.
func rawCommand(t *testing.T, addr, cmd string) string {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	tagged := func(tag string) string {
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("%s: %v", cmd, err)
			}
			if rest, ok := strings.CutPrefix(line, tag+" "); ok {
				return strings.TrimSpace(rest)
			}
		}
	}
	fmt.Fprintf(conn, "a LOGIN %s %s\r\n", localUser, localPass)
	if got := tagged("a"); !strings.HasPrefix(got, "OK") {
		t.Fatalf("login: %s", got)
	}
	fmt.Fprintf(conn, "b %s\r\n", cmd)
	return tagged("b")
}

// CLOSE expunges the \Deleted messages silently, as RFC 9051 asks; after
// EXAMINE it expunges nothing.
func TestCloseExpungesDeletedMessagesUnlessExamined(t *testing.T) {
	m := newMirror(t)
	m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0, imap.FlagDeleted)
	m.appendMsg(t, "INBOX", message("two@x", "second", "hello two"), t0)
	m.sync(t)
	c := login(t, startWriter(t, m))
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE after EXAMINE: %v", err)
	}
	sameCounts(t, "after CLOSE of EXAMINE", counts(t, c, "INBOX"), map[string]map[string]int{"INBOX": {"one@x": 1, "two@x": 1}})
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := c.UnselectAndExpunge().Wait(); err != nil {
		t.Fatalf("CLOSE: %v", err)
	}
	want := map[string]map[string]int{"INBOX": {"two@x": 1}}
	sameCounts(t, "after CLOSE", counts(t, c, "INBOX"), want)
	m.replay(t)
	sameCounts(t, "Dovecot", counts(t, m.c, "INBOX"), want)
}

// Another session expunged a message this one still shows (its view is
// a snapshot): a MOVE, COPY or EXPUNGE of it is skipped, not an error.
func TestWritesOnAMessageAnotherSessionExpungedAreSkipped(t *testing.T) {
	m := newMirror(t)
	m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0)
	m.appendMsg(t, "INBOX", message("two@x", "second", "hello two"), t0)
	m.sync(t)
	addr := startWriter(t, m)
	a, b := login(t, addr), login(t, addr)
	for _, c := range []*imapclient.Client{a, b} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.UIDExpunge(imap.UIDSetNum(1)).Collect(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Copy(imap.UIDSetNum(1), "Archive").Wait(); err != nil {
		t.Errorf("COPY of a message expunged elsewhere: %v", err)
	}
	data, err := b.Move(imap.UIDSetNum(1, 2), "Archive").Wait()
	if err != nil {
		t.Fatalf("MOVE of one message expunged elsewhere and one not: %v", err)
	}
	if data.SourceUIDs.String() != "2" {
		t.Errorf("COPYUID source %v, want 2 only", data.SourceUIDs)
	}
	sameCounts(t, "holdover", counts(t, b, "INBOX", "Archive"), map[string]map[string]int{"INBOX": {}, "Archive": {"two@x": 1}})
}
