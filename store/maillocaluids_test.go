package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// localUIDs maps a folder's messages by Message-ID to their local UIDs.
func localUIDs(t *testing.T, db *DB, folderID int64) map[string]uint32 {
	t.Helper()
	ms, err := db.LocalMailMessages(context.Background(), folderID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint32{}
	for _, m := range ms {
		full, err := db.MailMessageByID(context.Background(), m.ID)
		if err != nil {
			t.Fatal(err)
		}
		out[full.MessageID] = m.LocalUID
	}
	return out
}

func TestLocalUIDsSurviveReidentificationAndGrowOnMoves(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"a"})
	var inbox, archive int64
	ids := map[string]int64{}
	err := db.Write(ctx, func(tx *Tx) error {
		var err error
		if inbox, err = tx.UpsertMailFolder(ctx, "a", "INBOX", "/", ""); err != nil {
			return err
		}
		if archive, err = tx.UpsertMailFolder(ctx, "a", "Archive", "/", `\Archive`); err != nil {
			return err
		}
		for i, uid := range []uint32{7, 3, 9} { // server UIDs in any order
			mid := fmt.Sprintf("m%d@x", i)
			bid, err := tx.InsertMailBody(ctx, "a", mid, 5, strings.NewReader("hello"))
			if err != nil {
				return err
			}
			if ids[mid], err = tx.InsertMailMessage(ctx, MailMessage{FolderID: inbox, UID: uid, BodyID: bid, MessageID: mid, Size: 5, InternalDate: t0}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint32{"m0@x": 1, "m1@x": 2, "m2@x": 3}
	if got := localUIDs(t, db, inbox); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("local UIDs in creation order: got %v, want %v", got, want)
	}
	before, _ := db.MailFolderByID(ctx, inbox)
	arch, _ := db.MailFolderByID(ctx, archive)
	if before.LocalUIDValidity == 0 || arch.LocalUIDValidity <= before.LocalUIDValidity || before.LocalUIDNext != 4 {
		t.Fatalf("folder UIDVALIDITY/UIDNEXT: inbox %d/%d, archive %d", before.LocalUIDValidity, before.LocalUIDNext, arch.LocalUIDValidity)
	}

	// A remote UIDVALIDITY reset: the engine renumbers every message to
	// the server's new UIDs. The local view must not notice.
	err = db.Write(ctx, func(tx *Tx) error {
		for i, id := range []int64{ids["m0@x"], ids["m1@x"], ids["m2@x"]} {
			if err := tx.SetMailUID(ctx, id, uint32(100+i)); err != nil {
				return err
			}
		}
		// A re-run of an insert (upsert) keeps the row and its local UID.
		_, err := tx.InsertMailMessage(ctx, MailMessage{FolderID: inbox, UID: 100, BodyID: 1, MessageID: "m0@x", Size: 5, InternalDate: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := localUIDs(t, db, inbox); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("local UIDs after re-identification: got %v, want %v", got, want)
	}
	if after, _ := db.MailFolderByID(ctx, inbox); after.LocalUIDValidity != before.LocalUIDValidity || after.LocalUIDNext != 4 {
		t.Fatalf("inbox UIDVALIDITY/UIDNEXT changed: %d/%d", after.LocalUIDValidity, after.LocalUIDNext)
	}

	// A local move: a new message in the destination; the source's UID
	// is not reused when it comes back.
	err = db.Write(ctx, func(tx *Tx) error { return tx.MoveMailLocal(ctx, ids["m1@x"], archive) })
	if err != nil {
		t.Fatal(err)
	}
	if got := localUIDs(t, db, archive); got["m1@x"] != 1 {
		t.Fatalf("moved message in archive: %v", got)
	}
	err = db.Write(ctx, func(tx *Tx) error { return tx.RevertMailLocal(ctx, ids["m1@x"]) })
	if err != nil {
		t.Fatal(err)
	}
	if got := localUIDs(t, db, inbox); got["m1@x"] != 4 {
		t.Fatalf("message back in inbox: got %v, want m1@x at 4", got)
	}
	if n, unseen, err := db.LocalMailCounts(ctx, inbox); err != nil || n != 3 || unseen != 3 {
		t.Fatalf("counts: %d %d %v", n, unseen, err)
	}
	sums, err := db.MailFolderSummaries(ctx, "a")
	if err != nil || len(sums) != 2 || sums[1].LocalUIDValidity != before.LocalUIDValidity || sums[1].LocalUIDNext != 5 {
		t.Fatalf("summaries carry the local UID space: %+v %v", sums, err)
	}
}

// Messages stored before migration 0012 get local UIDs by arrival, and
// their folders a UIDVALIDITY and the UIDNEXT after them.
func TestMigration12NumbersExistingMessagesByArrival(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "holdover.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.EnsureAccounts(ctx, []string{"a"})
	var inbox int64
	err = db.Write(ctx, func(tx *Tx) error {
		if inbox, err = tx.UpsertMailFolder(ctx, "a", "INBOX", "/", ""); err != nil {
			return err
		}
		for i, at := range []time.Duration{2 * time.Hour, 0, time.Hour} {
			mid := fmt.Sprintf("m%d@x", i)
			bid, err := tx.InsertMailBody(ctx, "a", mid, 5, strings.NewReader("hello"))
			if err != nil {
				return err
			}
			if _, err := tx.InsertMailMessage(ctx, MailMessage{FolderID: inbox, UID: uint32(10 + i), BodyID: bid, MessageID: mid, Size: 5, InternalDate: t0.Add(at)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Back to schema 11: what an older holdover left (0015 first: its
	// triggers name 0012's columns).
	for _, q := range []string{
		`DROP INDEX mail_messages_local_only`, // migration 0013
		`DROP TRIGGER mail_messages_local_modseq_update`, `DROP TRIGGER mail_messages_local_uid_insert`,
		`DROP TRIGGER mail_messages_local_modseq_delete`, `DROP TRIGGER mail_messages_local_uid_undelete`,
		`DROP INDEX mail_messages_local_modseq`, `ALTER TABLE mail_messages DROP COLUMN local_modseq`,
		`ALTER TABLE mail_folders DROP COLUMN local_modseq`, `ALTER TABLE mail_folders DROP COLUMN local_removed`,
		`DROP TRIGGER mail_folders_local_uidvalidity`, `DROP TRIGGER mail_messages_local_uid_move`,
		`DROP INDEX mail_messages_local_uid`, `ALTER TABLE mail_messages DROP COLUMN local_uid`,
		`ALTER TABLE mail_folders DROP COLUMN local_uidvalidity`, `ALTER TABLE mail_folders DROP COLUMN local_uidnext`,
		// and what later migrations added, so they run again cleanly:
		// 0014 (local calendar change counts)
		`DROP TRIGGER calendars_local_seq`, `DROP TRIGGER calendars_removed`, `DROP TRIGGER cal_objects_local_seq_insert`,
		`DROP TRIGGER cal_objects_local_seq_update`, `DROP TRIGGER cal_objects_local_seq_delete`, `DROP INDEX cal_objects_local_seq`,
		`DROP TABLE cal_removed`, `ALTER TABLE cal_objects DROP COLUMN local_seq`,
		`ALTER TABLE calendars DROP COLUMN local_seq`, `ALTER TABLE calendars DROP COLUMN local_seq_base`,
		`PRAGMA user_version = 11`,
	} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	want := map[string]uint32{"m1@x": 1, "m2@x": 2, "m0@x": 3}
	if got := localUIDs(t, db, inbox); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backfilled local UIDs: got %v, want %v (by internal date)", got, want)
	}
	f, _ := db.MailFolderByID(ctx, inbox)
	if f.LocalUIDValidity == 0 || f.LocalUIDNext != 4 {
		t.Fatalf("backfilled folder: UIDVALIDITY %d, UIDNEXT %d", f.LocalUIDValidity, f.LocalUIDNext)
	}
}
