package imapd

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// A session's own write (EXPUNGE, MOVE) reports what it removed through
// expungeNow, with the sequence numbers the client has at each moment,
// and leaves nothing for the next poll to repeat.
func TestExpungeNowWritesTheSessionsOwnRemovalsOnce(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"work"})
	var ids []int64
	err = db.Write(ctx, func(tx *store.Tx) error {
		fid, err := tx.UpsertMailFolder(ctx, "work", "INBOX", "/", "")
		if err != nil {
			return err
		}
		for i := range 4 {
			raw := fmt.Sprintf("Message-ID: <m%d@x>\r\n\r\nbody\r\n", i)
			bid, err := tx.InsertMailBody(ctx, "work", fmt.Sprintf("m%d@x", i), int64(len(raw)), strings.NewReader(raw))
			if err != nil {
				return err
			}
			id, err := tx.InsertMailMessage(ctx, store.MailMessage{FolderID: fid, UID: uint32(i + 1), BodyID: bid, MessageID: fmt.Sprintf("m%d@x", i),
				Size: int64(len(raw)), InternalDate: time.Now()})
			ids = append(ids, id)
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(Options{DB: db, Auth: locallogin.Static(nil), Flagger: &outbox.Local{DB: db}, Log: slog.New(slog.DiscardHandler)})
	defer srv.Close()
	ss := &session{s: srv, account: "work"}
	if _, err := ss.Select("INBOX", &imap.SelectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, i := range []int{1, 3} { // the session's own deletes: UIDs 2 and 4
		if _, err := (&outbox.Local{DB: db}).Delete(ctx, ids[i]); err != nil {
			t.Fatal(err)
		}
	}
	var got []uint32
	if err := ss.expungeNow(func(seq uint32) error { got = append(got, seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, []uint32{4, 2}) {
		t.Fatalf("EXPUNGE %v, want 4 then 2", got)
	}
	if len(ss.sel.msgs) != 2 || ss.sel.msgs[0].LocalUID != 1 || ss.sel.msgs[1].LocalUID != 3 {
		t.Fatalf("view after: %+v", ss.sel.msgs)
	}
	var rec recorder
	if err := ss.sel.load(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := ss.sel.report(&rec, true); err != nil || len(rec) != 0 {
		t.Fatalf("the next poll repeats: %v %v", rec, err)
	}
}

type recorder []string

func (r *recorder) WriteExpunge(seq uint32) error {
	*r = append(*r, fmt.Sprint("EXPUNGE ", seq))
	return nil
}
func (r *recorder) WriteNumMessages(n uint32) error {
	*r = append(*r, fmt.Sprint("EXISTS ", n))
	return nil
}
func (r *recorder) WriteMessageFlags(seq uint32, uid imap.UID, flags []imap.Flag) error {
	*r = append(*r, fmt.Sprint("FETCH ", seq, uid, flags))
	return nil
}
