package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"

	"github.com/mattn/go-sqlite3"
)

func TestAFullDatabaseIsATemporaryFailure(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	if err := db.EnsureAccounts(ctx, []string{"work"}); err != nil {
		t.Fatal(err)
	}
	// A database that may not grow fails the way a full disk does
	// (SQLITE_FULL), without filling a disk.
	var pages int
	if err := db.w.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.w.ExecContext(ctx, fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	body := bytes.Repeat([]byte("x"), 1<<20)
	err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.InsertMailBody(ctx, "work", "big@example.com", int64(len(body)), bytes.NewReader(body))
		return err
	})
	if err == nil {
		t.Fatal("a 1 MB body fit in a database that may not grow")
	}
	if !IsTemporary(err) {
		t.Fatalf("IsTemporary(%v) = false for a full database", err)
	}
}

func TestIsTemporaryOnlyForBusyLockedAndFull(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"busy beyond the timeout", fmt.Errorf("begin write: %w", sqlite3.Error{Code: sqlite3.ErrBusy}), true},
		{"locked", sqlite3.Error{Code: sqlite3.ErrLocked}, true},
		{"database full", sqlite3.Error{Code: sqlite3.ErrFull}, true},
		{"I/O error from a full disk", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.ENOSPC}, true},
		{"spool file on a full disk", fmt.Errorf("spool message: %w", &fs.PathError{Op: "write", Path: "/x", Err: syscall.ENOSPC}), true},
		{"quota exceeded", &fs.PathError{Op: "write", Path: "/x", Err: syscall.EDQUOT}, true},
		{"other I/O error", sqlite3.Error{Code: sqlite3.ErrIoErr, SystemErrno: syscall.EIO}, false},
		{"corrupt database", sqlite3.Error{Code: sqlite3.ErrCorrupt}, false},
		{"read-only database", sqlite3.Error{Code: sqlite3.ErrReadonly}, false},
		{"permission denied", &fs.PathError{Op: "open", Path: "/x", Err: syscall.EACCES}, false},
		{"anything else", errors.New("boom"), false},
	}
	for _, tt := range tests {
		if got := IsTemporary(tt.err); got != tt.want {
			t.Errorf("%s: IsTemporary = %v, want %v", tt.name, got, tt.want)
		}
	}
}
