package store

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// A local-only message has a local UID at once, is invisible to the
// engine's server-side reads, and keeps its local UID when a sync pass
// binds the server's copy to it.
func TestALocalOnlyMessageIsBoundToTheServersCopyWithItsLocalUID(t *testing.T) {
	ctx := context.Background()
	db, err := Open(ctx, filepath.Join(t.TempDir(), "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"a"})
	var inbox, id int64
	err = db.Write(ctx, func(tx *Tx) error {
		if inbox, err = tx.UpsertMailFolder(ctx, "a", "INBOX", "/", ""); err != nil {
			return err
		}
		bid, err := tx.InsertMailBody(ctx, "a", "new@x", 5, strings.NewReader("hello"))
		if err != nil {
			return err
		}
		id, err = tx.InsertLocalMailMessage(ctx, MailMessage{FolderID: inbox, BodyID: bid, MessageID: "new@x", Size: 5, InternalDate: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	m, err := db.MailMessageByID(ctx, id)
	if err != nil || m.LocalUID != 1 || m.UID != 0 || m.RemoteFolderID != 0 {
		t.Fatalf("local-only row: %+v %v", m, err)
	}
	if n, maxUID, _ := db.MailCount(ctx, inbox); n != 0 || maxUID != 0 {
		t.Fatalf("the server side counts %d messages (max UID %d), want none", n, maxUID)
	}
	var bound, other bool
	err = db.Write(ctx, func(tx *Tx) error {
		if other, err = tx.BindLocalMailMessage(ctx, inbox, 7, "new@x", 6); err != nil { // another size: another message
			return err
		}
		bound, err = tx.BindLocalMailMessage(ctx, inbox, 7, "new@x", 5)
		return err
	})
	if err != nil || other || !bound {
		t.Fatalf("bind: other size %v, same %v, %v", other, bound, err)
	}
	m, _ = db.MailMessageByID(ctx, id)
	if m.LocalUID != 1 || m.UID != 7 || m.RemoteFolderID != inbox || m.RemoteUID != 7 || m.ModSeq != 0 {
		t.Fatalf("bound row: %+v", m)
	}
}
