package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/clock"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

func openTest(t testing.TB) (*DB, *clock.Fake) {
	t.Helper()
	c := clock.NewFake(t0)
	db, err := Open(context.Background(), filepath.Join(t.TempDir(), "holdover.db"), WithClock(c))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db, c
}

func pragma(t *testing.T, db *DB, name string) string {
	t.Helper()
	var v string
	if err := db.w.QueryRow("PRAGMA " + name).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestOpenSetsDurabilityPragmas(t *testing.T) {
	db, _ := openTest(t)
	want := map[string]string{"journal_mode": "wal", "synchronous": "2", "foreign_keys": "1", "busy_timeout": "5000"}
	for k, v := range want {
		if got := pragma(t, db, k); got != v {
			t.Errorf("PRAGMA %s = %s, want %s", k, got, v)
		}
	}
	var qo int
	if err := db.r.QueryRow("PRAGMA query_only").Scan(&qo); err != nil || qo != 1 {
		t.Errorf("reader query_only = %d, %v; want 1", qo, err)
	}
	if _, err := db.r.Exec(`INSERT INTO accounts (name, created_at) VALUES ('x', 0)`); err == nil {
		t.Error("reader pool accepted a write")
	}
}

func TestMigrationsSetUserVersionAndAreIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	for i := 0; i < 2; i++ {
		db, err := Open(context.Background(), path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		if got := pragma(t, db, "user_version"); got != fmt.Sprint(SchemaVersion()) || SchemaVersion() < 2 {
			t.Fatalf("user_version = %s, SchemaVersion = %d", got, SchemaVersion())
		}
		db.Close()
	}
}

func TestNewerDatabaseIsRefusedUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	_, err = Open(context.Background(), path)
	if !errors.Is(err, ErrTooNew) || !strings.Contains(err.Error(), "99") || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrTooNew naming version 99 and the path", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Fatal("refused database was modified")
	}
}

func TestGarbageFileIsAClearErrorAndUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	junk := []byte(strings.Repeat("this is not sqlite\n", 300))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(context.Background(), path)
	if !errors.Is(err, ErrNotDatabase) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want ErrNotDatabase naming the path", err)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(junk) {
		t.Fatal("garbage file was modified")
	}
}

func TestMissingDirectoryIsAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope", "h.db")
	_, err := Open(context.Background(), path)
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v", err)
	}
}

func TestOutboxEnqueueListRetryCancel(t *testing.T) {
	ctx := context.Background()
	db, c := openTest(t)
	if err := db.EnsureAccounts(ctx, []string{"work", "home"}); err != nil {
		t.Fatal(err)
	}
	var ids []int64
	err := db.Write(ctx, func(tx *Tx) error {
		for _, k := range []string{"INBOX/1", "INBOX/2", "INBOX/3"} {
			id, err := tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "mail.flags", TargetKey: k, Payload: []byte(`{"add":["\\Seen"]}`)})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.ListOutbox(ctx, OutboxFilter{State: OutboxPending})
	if err != nil || len(rows) != 3 {
		t.Fatalf("rows = %d, err %v", len(rows), err)
	}
	if rows[0].ID != ids[0] || rows[0].TargetKey != "INBOX/1" || !rows[0].CreatedAt.Equal(t0) || string(rows[0].Payload) != `{"add":["\\Seen"]}` {
		t.Fatalf("row 0 = %+v", rows[0])
	}

	c.Advance(time.Minute)
	if err := db.CancelOutbox(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := db.CancelOutbox(ctx, ids[0]); !errors.Is(err, ErrState) || !strings.Contains(err.Error(), "cancelled") {
		t.Fatalf("second cancel: %v, want ErrState naming the state", err)
	}
	if err := db.RetryOutbox(ctx, ids[1]); !errors.Is(err, ErrState) {
		t.Fatalf("retry of a pending row: %v, want ErrState", err)
	}
	if err := db.CancelOutbox(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Fatalf("cancel of a missing row: %v, want ErrNotFound", err)
	}
	markState(t, db, ids[1], OutboxDead)
	markState(t, db, ids[2], OutboxInflight)
	if err := db.CancelOutbox(ctx, ids[2]); !errors.Is(err, ErrState) {
		t.Fatalf("cancel of an inflight row: %v, want ErrState", err)
	}
	n, err := db.RetryAllDead(ctx)
	if err != nil || n != 1 {
		t.Fatalf("RetryAllDead = %d, %v", n, err)
	}
	r, err := db.OutboxRow(ctx, ids[1])
	if err != nil || r.State != OutboxPending || r.Attempts != 0 || !r.NextAttemptAt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("retried row = %+v, %v", r, err)
	}
	counts, err := db.OutboxCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[OutboxState]int{OutboxCancelled: 1, OutboxPending: 1, OutboxInflight: 1}
	for s, n := range want {
		if counts["work"][s] != n {
			t.Errorf("count %s = %d, want %d (all: %v)", s, counts["work"][s], n, counts)
		}
	}
}

func markState(t *testing.T, db *DB, id int64, s OutboxState) {
	t.Helper()
	if _, err := db.w.Exec(`UPDATE outbox SET state = ?, attempts = 3 WHERE id = ?`, string(s), id); err != nil {
		t.Fatal(err)
	}
}

func TestOutboxRejectsUnknownKindAndAccount(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	cases := []OutboxAction{
		{Account: "work", Kind: "mail.explode", TargetKey: "k"},
		{Account: "ghost", Kind: "mail.send", TargetKey: "k"},
	}
	for _, a := range cases {
		err := db.Write(ctx, func(tx *Tx) error { _, err := tx.EnqueueOutbox(ctx, a); return err })
		if err == nil {
			t.Errorf("enqueue %+v succeeded", a)
		}
	}
	rows, _ := db.ListOutbox(ctx, OutboxFilter{})
	if len(rows) != 0 {
		t.Fatalf("%d rows stored after failed enqueues", len(rows))
	}
}

func TestFailedWriteRollsBackTheLocalChangeAndItsRow(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	boom := errors.New("local change failed")
	err := db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "mail.send", TargetKey: "<a@b>"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	rows, _ := db.ListOutbox(ctx, OutboxFilter{})
	if len(rows) != 0 {
		t.Fatal("outbox row survived a rolled back transaction")
	}
}

func TestHealthSinceMovesOnlyOnStateChange(t *testing.T) {
	ctx := context.Background()
	db, c := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	set := func(s HealthState, fails int, msg string) {
		t.Helper()
		if err := db.Write(ctx, func(tx *Tx) error { return tx.SetHealth(ctx, "work", "imap", s, fails, msg) }); err != nil {
			t.Fatal(err)
		}
	}
	set(HealthUp, 0, "")
	c.Advance(time.Minute)
	set(HealthUp, 0, "")
	c.Advance(time.Minute)
	set(HealthDown, 3, "dial tcp: connection refused")
	c.Advance(time.Minute)
	set(HealthDown, 4, "")
	hs, err := db.HealthRows(ctx)
	if err != nil || len(hs) != 1 {
		t.Fatalf("%v %v", hs, err)
	}
	h := hs[0]
	if h.State != HealthDown || !h.Since.Equal(t0.Add(2*time.Minute)) || h.LastError != "dial tcp: connection refused" ||
		!h.LastErrorAt.Equal(t0.Add(2*time.Minute)) || h.ConsecutiveFailures != 4 || !h.UpdatedAt.Equal(t0.Add(3*time.Minute)) {
		t.Fatalf("health = %+v", h)
	}
}

func TestOutageOpenIsIdempotentAndCloseRecordsCounts(t *testing.T) {
	ctx := context.Background()
	db, c := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	var id1, id2 int64
	db.Write(ctx, func(tx *Tx) (err error) { id1, err = tx.OpenOutage(ctx, "work", "imap", "timeout"); return })
	c.Advance(time.Minute)
	db.Write(ctx, func(tx *Tx) (err error) { id2, err = tx.OpenOutage(ctx, "work", "imap", "again"); return })
	if id1 == 0 || id1 != id2 {
		t.Fatalf("second open made a new outage: %d vs %d", id1, id2)
	}
	c.Advance(time.Hour)
	if err := db.Write(ctx, func(tx *Tx) error { return tx.CloseOutage(ctx, "work", "imap", 7, 7) }); err != nil {
		t.Fatal(err)
	}
	os, err := db.Outages(ctx, 0)
	if err != nil || len(os) != 1 {
		t.Fatalf("%v %v", os, err)
	}
	o := os[0]
	if o.Open() || o.Cause != "timeout" || o.Queued != 7 || o.Replayed != 7 || !o.EndedAt.Equal(t0.Add(61*time.Minute)) {
		t.Fatalf("outage = %+v", o)
	}
}

func TestCheckAndBackupWhileWriting(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			db.Write(ctx, func(tx *Tx) error {
				_, err := tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "mail.flags", TargetKey: "k", Payload: make([]byte, 512)})
				return err
			})
		}
	}()
	dest := filepath.Join(t.TempDir(), "backup.db")
	err := db.Backup(ctx, dest)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Backup(ctx, dest); !errors.Is(err, os.ErrExist) {
		t.Fatalf("second backup to the same file: %v, want ErrExist", err)
	}
	fi, _ := os.Stat(dest)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, want 0600", fi.Mode().Perm())
	}
	b, err := Open(ctx, dest)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := b.Check(ctx)
	if err != nil || !rep.OK || rep.SchemaVersion != SchemaVersion() || rep.Tables["accounts"] != 1 {
		t.Fatalf("check of backup = %+v, %v", rep, err)
	}
	if _, ok := rep.Tables["outbox"]; !ok {
		t.Fatal("no outbox count in report")
	}
	if _, ok := rep.Tables["mail_fts_data"]; ok {
		t.Fatal("FTS shadow tables counted as tables")
	}
}

func TestDatabaseFilesArePrivate(t *testing.T) {
	db, _ := openTest(t)
	db.EnsureAccounts(context.Background(), []string{"work"})
	for _, suffix := range []string{"", "-wal", "-shm"} {
		fi, err := os.Stat(db.Path() + suffix)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", suffix, fi.Mode().Perm())
		}
	}
}

// PRAGMA integrity_check on a pooled reader once used a stale FTS5
// structure after later commits and reported "checksum mismatch" on a
// sound index; Check now runs on a fresh connection.
func TestCheckAfterSeveralFTSCommitsIsOK(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	for b := 0; b < 4; b++ {
		err := db.Write(ctx, func(tx *Tx) error {
			for i := 0; i < 5; i++ {
				body := fmt.Sprintf("body %d %d %s", b, i, strings.Repeat("hello world ", 50))
				id, err := tx.InsertMailBody(ctx, "work", fmt.Sprint(b, i), int64(len(body)), strings.NewReader(body))
				if err != nil {
					return err
				}
				if err := tx.IndexMailBody(ctx, id, "subj", "from", "to", body); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if rep, err := db.Check(ctx); err != nil || !rep.OK {
			t.Fatalf("after commit %d: %v %v", b, rep.Integrity, err)
		}
	}
}

func TestPurgeAccountRemovesEverythingItOwnsAndNothingElse(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"gone", "kept"})
	for _, a := range []string{"gone", "kept"} {
		err := db.Write(ctx, func(tx *Tx) error {
			fid, err := tx.UpsertMailFolder(ctx, a, "INBOX", "/", "")
			if err != nil {
				return err
			}
			bid, err := tx.InsertMailBody(ctx, a, "m@x", 5, strings.NewReader("hello"))
			if err != nil {
				return err
			}
			if err := tx.IndexMailBody(ctx, bid, "s", "f", "t", "hello"); err != nil {
				return err
			}
			if _, err := tx.InsertMailMessage(ctx, MailMessage{FolderID: fid, UID: 1, BodyID: bid, Size: 5, InternalDate: t0}); err != nil {
				return err
			}
			_, err = tx.EnqueueOutbox(ctx, OutboxAction{Account: a, Kind: "mail.flags", TargetKey: "k"})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if found, err := db.PurgeAccount(ctx, "gone"); err != nil || !found {
		t.Fatalf("purge: %v %v", found, err)
	}
	if found, _ := db.PurgeAccount(ctx, "never"); found {
		t.Fatal("purge of an unknown account reported found")
	}
	rep, err := db.Check(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("integrity after purge: %v %v", rep.Integrity, err)
	}
	for table, want := range map[string]int{"accounts": 1, "mail_messages": 1, "mail_bodies": 1, "mail_body_chunks": 1, "mail_fts": 1, "outbox": 1, "mail_folders": 1} {
		if rep.Tables[table] != want {
			t.Errorf("%s: %d rows, want %d", table, rep.Tables[table], want)
		}
	}
	if hits, _ := db.SearchMail(ctx, "", `"hello"`, 10); len(hits) != 1 || hits[0].Account != "kept" {
		t.Fatalf("search after purge: %+v", hits)
	}
}

func TestConcurrentFirstOpensMigrateOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	errs := make(chan error, 4)
	for i := 0; i < 4; i++ {
		go func() {
			db, err := Open(context.Background(), path)
			if err == nil {
				db.Close()
			}
			errs <- err
		}()
	}
	for i := 0; i < 4; i++ {
		if err := <-errs; err != nil {
			t.Fatalf("concurrent open: %v", err)
		}
	}
}
