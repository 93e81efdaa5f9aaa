package imap_test

import (
	"context"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

func dovecotConfig(d *testenv.Dovecot) imapconn.Config {
	pw := d.Password
	return imapconn.Config{Host: d.Host, Port: d.Port, TLS: "none", Username: d.User,
		Password: func(context.Context) (string, error) { return pw, nil }}
}

// Dovecot answers STATUS about the folder a session has selected from
// that session's view, which another client's changes do not reach until
// the session syncs it. The connector's states must be current anyway,
// without a SELECT.
func TestStatusOfTheSelectedFolderIsCurrent(t *testing.T) {
	d := testenv.StartDovecot(t)
	other := d.Client(t)
	if err := other.Create("A", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	testenv.Append(t, other, "A", []byte("Subject: one\r\n\r\none\r\n"), time.Time{})

	ctx := context.Background()
	s, err := imapconn.Dial(ctx, dovecotConfig(d))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	raw := d.Client(t) // a plain long-lived session, for comparison
	opts := &imap.StatusOptions{NumMessages: true, UIDNext: true, HighestModSeq: true}
	if _, err := raw.Select("A", &imap.SelectOptions{CondStore: true}).Wait(); err != nil {
		t.Fatal(err)
	}

	for _, change := range []string{"new mail", "flag change"} {
		before, err := s.Select(ctx, "A")
		if err != nil {
			t.Fatal(err)
		}
		switch change {
		case "new mail":
			testenv.Append(t, other, "A", []byte("Subject: two\r\n\r\ntwo\r\n"), time.Time{})
		case "flag change":
			if _, err := other.Select("A", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			err := other.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
			if err != nil {
				t.Fatal(err)
			}
		}
		rawSt, err := raw.Status("A", opts).Wait()
		if err != nil {
			t.Fatal(err)
		}

		// Through LIST-STATUS, with A still selected.
		list, err := s.ListFolders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var listed *hsync.FolderState
		for _, f := range list {
			if f.Name == "A" {
				listed = f.State
			}
		}
		if listed == nil || !changed(before, *listed) {
			t.Fatalf("%s: LIST-STATUS of the selected folder says %+v, before the change %+v", change, listed, before)
		}
		t.Logf("%s: a plain session with A selected gets STATUS UIDNEXT %d HIGHESTMODSEQ %d, the truth is %d, %d (stale: %v)",
			change, rawSt.UIDNext, rawSt.HighestModSeq, listed.UIDNext, listed.HighestModSeq,
			uint32(rawSt.UIDNext) != listed.UIDNext || rawSt.HighestModSeq != listed.HighestModSeq)
		// Through STATUS, with A selected again.
		if _, err := s.Select(ctx, "A"); err != nil {
			t.Fatal(err)
		}
		states, err := s.FolderStates(ctx, []string{"A", "INBOX", "Gone"})
		if err != nil {
			t.Fatal(err)
		}
		if st, ok := states["A"]; !ok || st != *listed {
			t.Fatalf("%s: STATUS of the selected folder says %+v, LIST-STATUS %+v", change, st, *listed)
		}
		if _, ok := states["Gone"]; ok || len(states) != 2 {
			t.Fatalf("states of A, INBOX and a folder that does not exist: %+v", states)
		}
	}
}

func changed(before, now hsync.FolderState) bool {
	return now.UIDNext != before.UIDNext || now.HighestModSeq != before.HighestModSeq || now.Messages != before.Messages
}
