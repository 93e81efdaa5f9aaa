package mailsync_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
)

// createFolders creates n folders "F000"… with one message each, the
// commands pipelined so that set-up stays quick.
func createFolders(t *testing.T, s *server, n int) []string {
	t.Helper()
	names := make([]string, n)
	cmds := make([]*imapclient.Command, n)
	for i := range names {
		names[i] = fmt.Sprintf("F%03d", i)
		cmds[i] = s.c.Create(names[i], nil)
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("create %s: %v", names[i], err)
		}
	}
	for i, name := range names {
		s.appendMsg(t, name, msg(fmt.Sprintf("f%d@example.com", i), "in "+name, "body"), t0)
	}
	return names
}

// change applies one kind of server-side change to folder through the
// test's own client.
func (s *server) change(t *testing.T, kind, folder string) {
	t.Helper()
	switch kind {
	case "new mail":
		s.appendMsg(t, folder, msg(fmt.Sprintf("new-%d@example.com", time.Now().UnixNano()), "new", "new"), t0)
		return
	case "uidvalidity reset":
		if err := s.c.Delete(folder).Wait(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // Dovecot derives UIDVALIDITY from the clock
		s.create(t, folder)
		s.appendMsg(t, folder, msg("after-reset@example.com", "reset", "reset"), t0)
		return
	}
	if _, err := s.c.Select(folder, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	defer func() { s.c.Unselect().Wait() }()
	first := imap.SeqSetNum(1)
	switch kind {
	case "flag change":
		err := s.c.Store(first, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
		if err != nil {
			t.Fatal(err)
		}
	case "flag removed":
		err := s.c.Store(first, &imap.StoreFlags{Op: imap.StoreFlagsDel, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
		if err != nil {
			t.Fatal(err)
		}
	case "expunge":
		err := s.c.Store(first, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := s.c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
	default:
		t.Fatalf("unknown change %q", kind)
	}
}

func TestNoopOverTwoHundredFoldersIsOneListAndNoSelect(t *testing.T) {
	srv := startServer(t)
	createFolders(t, srv, 200)
	f := newFixture(t, srv)
	first := f.sync(t)

	f.remote.resetCounts()
	st := f.sync(t)
	if st.Folders != 0 || st.Skipped != first.Folders || st.New != 0 {
		t.Fatalf("no-op stats = %+v (first pass synced %d folders)", st, first.Folders)
	}
	if f.remote.selects != 0 || f.remote.lists != 1 || f.remote.statuses != 0 {
		t.Fatalf("no-op sent %d SELECT, %d LIST, %d STATUS batches; want one LIST-STATUS and nothing else",
			f.remote.selects, f.remote.lists, f.remote.statuses)
	}
}

func TestEveryKindOfChangeInOneOfTwoHundredFoldersIsPickedUp(t *testing.T) {
	srv := startServer(t)
	createFolders(t, srv, 200)
	f := newFixture(t, srv)
	f.sync(t)

	// The same folder twice in a row on purpose: after a pass the
	// engine's session has it selected, and Dovecot's STATUS of a
	// selected folder is that session's (stale) view.
	for _, kind := range []string{"new mail", "flag change", "flag removed", "new mail", "expunge", "expunge", "uidvalidity reset", "flag change"} {
		srv.change(t, kind, "F137")
		f.remote.resetCounts()
		st := f.sync(t)
		var got int
		switch kind {
		case "new mail":
			got = st.New
		case "flag change", "flag removed":
			got = st.FlagChanges
		case "expunge":
			got = st.Expunged
		case "uidvalidity reset":
			got = st.UIDValidityResets
		}
		if got != 1 || st.Folders != 1 {
			t.Fatalf("%s in F137: stats %+v; want it seen, in that one folder", kind, st)
		}
		if f.remote.selects != 1 {
			t.Fatalf("%s in F137: %d SELECTs, want 1 (the changed folder only)", kind, f.remote.selects)
		}
		f.assertMirror(t)
	}
}

// The poll of a server without NOTIFY, LIST-STATUS or CONDSTORE: STATUS
// for every folder in one batch, SELECT only where the counts moved.
func TestPollWithoutListStatusSendsOneStatusBatch(t *testing.T) {
	srv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}}, nil)
	srv.Append(t, "Archive", msg("a@example.com", "a", "a"))
	f := newFixtureCfg(t, memConfig(srv))
	f.sync(t)

	f.remote.resetCounts()
	st, err := f.eng.SyncChanged(t.Context())
	if err != nil || st.Folders != 0 || st.Skipped != 2 {
		t.Fatalf("poll of an unchanged account: %+v, %v", st, err)
	}
	if f.remote.selects != 0 || f.remote.lists != 1 || f.remote.statuses != 1 {
		t.Fatalf("poll sent %d SELECT, %d LIST, %d STATUS batches; want 0, 1, 1", f.remote.selects, f.remote.lists, f.remote.statuses)
	}

	srv.Append(t, "Archive", msg("b@example.com", "b", "b"))
	f.remote.resetCounts()
	st, err = f.eng.SyncChanged(t.Context())
	if err != nil || st.New != 1 || f.remote.selects != 1 {
		t.Fatalf("poll after new mail in Archive: %+v, %v, %d SELECTs", st, err, f.remote.selects)
	}
	// Without CONDSTORE SyncOnce still selects every folder: only that
	// sees flag changes.
	f.remote.resetCounts()
	if _, err := f.eng.SyncOnce(t.Context()); err != nil || f.remote.selects != 2 {
		t.Fatalf("full pass without CONDSTORE: %v, %d SELECTs, want 2", err, f.remote.selects)
	}
}

func memConfig(srv *testenv.IMAPMem) imapconn.Config {
	return imapconn.Config{Host: srv.Host, Port: srv.Port, TLS: "none", Username: "me",
		Password: func(context.Context) (string, error) { return "pw", nil }}
}
