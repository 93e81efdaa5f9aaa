package mailsync_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapconn "github.com/holdover/holdover/connectors/imap"

	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/mailsync"
)

// damage makes the INBOX mirror diverge behind the engine's back, the way
// a bug would, without changing the folder's recorded state (so a normal
// pass skips it as unchanged): one message dropped, one ghost added, one
// message's flags changed.
func damage(t *testing.T, f *fixture) {
	t.Helper()
	ctx := context.Background()
	inbox, err := f.db.MailFolderByName(ctx, "work", "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := f.db.ListMailMessages(ctx, store.MailFilter{FolderID: inbox.ID})
	if err != nil || len(msgs) < 3 {
		t.Fatalf("inbox: %d messages, %v", len(msgs), err)
	}
	err = f.db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteMailMessages(ctx, inbox.ID, []uint32{msgs[0].UID}); err != nil {
			return err
		}
		ghost := msgs[1]
		ghost.UID = 1 << 30 // no such UID on the server
		if _, err := tx.InsertMailMessage(ctx, ghost); err != nil {
			return err
		}
		_, err := tx.SetMailFlags(ctx, inbox.ID, msgs[2].UID, []string{`\Draft`}, 0)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyFindsEveryKindOfDivergenceAndRepairRemovesIt(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	f.sync(t)
	ctx := context.Background()

	clean, err := f.eng.Verify(ctx, mailsync.CheckOnly)
	if err != nil {
		t.Fatal(err)
	}
	if len(clean.Divergences) != 0 || len(clean.Busy) != 0 || clean.Folders == 0 || clean.Messages != 38 {
		t.Fatalf("verify of a sound mirror = %+v", clean)
	}

	damage(t, f)
	bodies := f.remote.bodies
	found, err := f.eng.Verify(ctx, mailsync.CheckOnly)
	if err != nil {
		t.Fatal(err)
	}
	want := mailsync.Divergence{Folder: "INBOX", Missing: 1, Ghosts: 1, FlagsDiffer: 1}
	if len(found.Divergences) != 1 || found.Divergences[0] != want {
		t.Fatalf("divergences = %+v, want %+v", found.Divergences, want)
	}
	// Checking changes nothing: a second check finds the same.
	if again, _ := f.eng.Verify(ctx, mailsync.CheckOnly); len(again.Divergences) != 1 || again.Divergences[0] != want {
		t.Fatalf("second check = %+v", again.Divergences)
	}

	fixed, err := f.eng.Verify(ctx, mailsync.Repair)
	if err != nil || len(fixed.Divergences) != 1 || !fixed.Repaired {
		t.Fatalf("repair = %+v, %v", fixed, err)
	}
	if f.remote.bodies != bodies {
		t.Errorf("repair downloaded %d bodies; the missing message's body was stored already", f.remote.bodies-bodies)
	}
	f.assertMirror(t)
	after, err := f.eng.Verify(ctx, mailsync.CheckOnly)
	if err != nil || len(after.Divergences) != 0 {
		t.Fatalf("verify after repair = %+v, %v", after, err)
	}
	inbox, _ := f.db.MailFolderByName(ctx, "work", "INBOX")
	if inbox.VerifiedAt.IsZero() {
		t.Error("verified_at not recorded")
	}
}

// Another client changing the folder while the comparison lists it is
// not a divergence: the comparison sees the folder's state move, passes
// again and compares again.
func TestVerifyIsNotFooledByChangesItRacesWith(t *testing.T) {
	srv := startServer(t)
	seedMailbox(t, srv)
	f := newFixture(t, srv)
	f.sync(t)
	ctx := context.Background()
	other := srv.Dovecot.Client(t)
	races := 0
	f.remote.beforeUIDs = func() {
		if races < 2 { // an arrival, then an expunge, each just before a listing
			races++
			if races == 1 {
				testenv.Append(t, other, "INBOX", msg("race@example.com", "racing", "x"), t0)
				return
			}
			if _, err := other.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			var one imap.UIDSet
			one.AddNum(3)
			other.Store(one, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
			if err := other.UIDExpunge(one).Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rep, err := f.eng.Verify(ctx, mailsync.CheckOnly)
	if err != nil || len(rep.Divergences) != 0 || len(rep.Busy) != 0 {
		t.Fatalf("verify racing with another client = %+v, %v", rep, err)
	}
	if races != 2 {
		t.Fatalf("the races did not happen (%d)", races)
	}
	f.remote.beforeUIDs = nil
	f.assertMirror(t)
}

// Without CONDSTORE a flag change by another client leaves no trace in the
// folder's state: verification compares flags again after another pass
// instead of reporting the race as a divergence (seen in the model test).
func TestVerifyWithoutCondstoreIsNotFooledByAFlagRace(t *testing.T) {
	srv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}}, nil)
	for i := 0; i < 3; i++ {
		srv.Append(t, "INBOX", msg(fmt.Sprintf("m%d@example.com", i), "mem", "body"))
	}
	f := newFixtureCfg(t, imapconn.Config{Host: srv.Host, Port: srv.Port, TLS: "none", Username: "me",
		Password: func(context.Context) (string, error) { return "pw", nil }})
	f.sync(t)
	c, err := imapclient.DialInsecure(srv.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("me", "pw").Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	raced := false
	f.remote.beforeUIDs = func() {
		if raced {
			return
		}
		raced = true
		var one imap.UIDSet
		one.AddNum(2)
		if err := c.Store(one, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close(); err != nil {
			t.Error(err)
		}
	}
	rep, err := f.eng.Verify(context.Background(), mailsync.CheckOnly)
	if err != nil || len(rep.Divergences) != 0 || !raced {
		t.Fatalf("verify racing with a flag change = %+v, %v (raced %v)", rep, err, raced)
	}
}
