package mailsync_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/store"
)

// seedMailbox fills the server with the awkward mail real mailboxes hold.
func seedMailbox(t *testing.T, s *server) {
	s.create(t, "Entwürfe & Notizen")
	s.create(t, "Projects")
	s.create(t, "Projects/2026")
	for i := 0; i < 30; i++ {
		s.appendMsg(t, "INBOX", msg(fmt.Sprintf("inbox-%d@example.com", i), fmt.Sprintf("Inbox message %d", i), strings.Repeat("hello world ", 50+i)), t0.Add(time.Duration(i)*time.Minute))
	}
	s.appendMsg(t, "INBOX", msg("", "No message id at all", "body"), t0, imap.FlagSeen)
	s.appendMsg(t, "INBOX", msg("dup@example.com", "Duplicate one", "first copy"), t0, imap.FlagFlagged)
	s.appendMsg(t, "INBOX", msg("dup@example.com", "Duplicate two", "second copy, longer"), t0)
	s.appendMsg(t, "INBOX", []byte("Subject: =?iso-8859-1?q?Gr=FC=DFe?=\r\nFrom: m\xfcller@example.com\r\nContent-Type: text/plain; charset=x-unknown\r\n\r\n8-bit \xe4\xf6\xfc body\r\n"), t0)
	s.appendMsg(t, "INBOX", []byte("Subject: broken mime\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"nope\r\n\r\n--nope\r\nnot really\r\n"), t0)
	s.appendMsg(t, "Sent", msg("sent-1@example.com", "Sent one", "sent"), t0, imap.FlagSeen)
	s.appendMsg(t, "Entwürfe & Notizen", msg("draft-1@example.com", "Entwurf", "Grüße aus Köln"), t0)
	s.appendMsg(t, "Projects/2026", msg("proj-1@example.com", "Project plan", "plan"), t0)
}

func TestInitialSyncMirrorsEveryFolderMessageFlagAndByte(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	st := f.sync(t)
	if st.New != 38 || st.Downloaded+st.Reused != 38 {
		t.Fatalf("stats = %+v, want 38 new messages", st)
	}
	f.assertMirror(t)

	folders, _ := f.db.MailFolders(context.Background(), "work")
	uses := map[string]string{}
	for _, fo := range folders {
		uses[fo.Name] = fo.SpecialUse
	}
	if uses["Sent"] != `\Sent` || uses["Trash"] != `\Trash` || uses["Archive"] != `\Archive` {
		t.Errorf("special-use not recorded: %v", uses)
	}
}

func TestNoopResyncCostsOneStatusPerFolderAndDownloadsNothing(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	first := f.sync(t)
	st := f.sync(t)
	if st.Folders != 0 || st.Skipped != first.Folders || st.Downloaded != 0 || st.New != 0 {
		t.Fatalf("no-op resync stats = %+v (first pass synced %d folders)", st, first.Folders)
	}
}

func TestIncrementalResyncFollowsNewFlagsAndExpunges(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	f.sync(t)
	before := f.remote.bodies

	// Server-side changes: 3 new, 2 flag changes, 1 expunge.
	for i := 0; i < 3; i++ {
		srv.appendMsg(t, "INBOX", msg(fmt.Sprintf("late-%d@example.com", i), "late", "late body"), t0)
	}
	if _, err := srv.c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var two imap.UIDSet
	two.AddNum(1, 2)
	if err := srv.c.Store(two, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen, imap.FlagAnswered}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	var three imap.UIDSet
	three.AddNum(3)
	if err := srv.c.Store(three, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.c.UIDExpunge(three).Close(); err != nil {
		t.Fatal(err)
	}
	srv.c.Unselect().Wait()

	st := f.sync(t)
	if st.New != 3 || st.FlagChanges != 2 || st.Expunged != 1 || f.remote.bodies-before != 3 {
		t.Fatalf("stats = %+v, bodies fetched %d", st, f.remote.bodies-before)
	}
	f.assertMirror(t)
}

func TestServerSideMoveReusesTheStoredBody(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	f.sync(t)
	before := f.remote.bodies
	if _, err := srv.c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	var uids imap.UIDSet
	uids.AddNum(5, 6, 7)
	if _, err := srv.c.Move(uids, "Archive").Wait(); err != nil {
		t.Fatal(err)
	}
	srv.c.Unselect().Wait()

	st := f.sync(t)
	if f.remote.bodies != before || st.Reused != 3 || st.Expunged != 3 {
		t.Fatalf("move: %d bodies downloaded, stats %+v; want none downloaded, 3 reused", f.remote.bodies-before, st)
	}
	f.assertMirror(t)
}

func TestFolderRenameAndDeleteAreFollowedWithoutRedownload(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	f.sync(t)
	before := f.remote.bodies
	if err := srv.c.Rename("Entwürfe & Notizen", "Ideen", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := srv.c.Delete("Projects/2026").Wait(); err != nil {
		t.Fatal(err)
	}
	st := f.sync(t)
	if f.remote.bodies != before || st.FoldersRemoved != 2 {
		t.Fatalf("rename: %d bodies downloaded, stats %+v", f.remote.bodies-before, st)
	}
	f.assertMirror(t)
}

func TestInterruptedInitialSyncResumesWithoutRefetching(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	f.eng = f.engine(t, 5) // small batches: commits happen before the cut
	f.remote.failBodies = 12
	if _, err := f.eng.SyncOnce(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("interrupted sync: %v, want the injected fault", err)
	}
	committed := countMessages(t, f.db)
	if committed == 0 || committed >= 38 {
		t.Fatalf("%d messages committed before the cut; the test needs a partial sync", committed)
	}
	rep, err := f.db.Check(context.Background())
	if err != nil || !rep.OK {
		t.Fatalf("integrity after the cut: %v %v", rep.Integrity, err)
	}

	f.eng.Close()
	f.eng = f.engine(t, 5) // a new process
	f.sync(t)
	if f.remote.bodies+committed > 38 {
		t.Fatalf("resume downloaded %d bodies with %d already committed: something was fetched twice", f.remote.bodies, committed)
	}
	f.assertMirror(t)
}

func TestUIDValidityChangeKeepsStoredBodies(t *testing.T) {
	srv := startServer(t)
	srv.create(t, "Lists")
	for i := 0; i < 5; i++ {
		srv.appendMsg(t, "Lists", msg(fmt.Sprintf("list-%d@example.com", i), "list", "list body"), t0.Add(time.Duration(i)*time.Hour))
	}
	f := newFixture(t, srv)
	f.sync(t)
	before := f.remote.bodies

	// Recreate the folder: same messages, new UIDVALIDITY.
	if err := srv.c.Delete("Lists").Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // Dovecot derives UIDVALIDITY from the clock
	srv.create(t, "Lists")
	for i := 4; i >= 0; i-- { // other order: other UIDs
		srv.appendMsg(t, "Lists", msg(fmt.Sprintf("list-%d@example.com", i), "list", "list body"), t0.Add(time.Duration(i)*time.Hour))
	}
	st := f.sync(t)
	if st.UIDValidityResets != 1 || f.remote.bodies != before {
		t.Fatalf("stats %+v, %d bodies downloaded; want one reset and no download", st, f.remote.bodies-before)
	}
	f.assertMirror(t)
}

func countMessages(t *testing.T, db *store.DB) int {
	t.Helper()
	msgs, err := db.ListMailMessages(context.Background(), store.MailFilter{Account: "work"})
	if err != nil {
		t.Fatal(err)
	}
	return len(msgs)
}
