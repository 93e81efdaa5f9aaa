package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Local states of a file entry: which local change waits in the outbox.
const (
	FileSynced   = ""
	FileCreated  = "created"
	FileModified = "modified"
	FileDeleted  = "deleted"
)

// FileEntry is one path of an account's synced folder (see migration 9
// for the meaning of the two versions it holds).
type FileEntry struct {
	Account string
	Path    string
	Dir     bool
	// The local view.
	Size  int64
	MTime time.Time
	Hash  string
	// The base: the server version the local view is in step with.
	ETag        string
	RemoteSize  int64
	RemoteMTime time.Time
	SyncedHash  string

	LocalState string
}

// OnServer reports whether the base names a server version.
func (e FileEntry) OnServer() bool { return e.ETag != "" || (e.Dir && e.LocalState != FileCreated) }

const fileColumns = `account, path, is_dir, size, mtime, hash, etag, remote_size, remote_mtime, synced_hash, local_state`

func scanFileEntry(s scanner) (FileEntry, error) {
	var e FileEntry
	var mtime, rmtime int64
	err := s.Scan(&e.Account, &e.Path, &e.Dir, &e.Size, &mtime, &e.Hash, &e.ETag, &e.RemoteSize, &rmtime, &e.SyncedHash, &e.LocalState)
	if mtime != 0 {
		e.MTime = time.Unix(0, mtime).UTC()
	}
	if rmtime != 0 {
		e.RemoteMTime = time.UnixMilli(rmtime).UTC()
	}
	return e, err
}

func nanosOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// PutFileEntry inserts or replaces the entry of a path.
func (tx *Tx) PutFileEntry(ctx context.Context, e FileEntry) error {
	_, err := tx.exec(ctx, `INSERT INTO file_entries (`+fileColumns+`, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (account, path) DO UPDATE SET is_dir = excluded.is_dir, size = excluded.size, mtime = excluded.mtime,
			hash = excluded.hash, etag = excluded.etag, remote_size = excluded.remote_size, remote_mtime = excluded.remote_mtime,
			synced_hash = excluded.synced_hash, local_state = excluded.local_state, updated_at = excluded.updated_at`,
		e.Account, e.Path, e.Dir, e.Size, nanosOrZero(e.MTime), e.Hash, e.ETag, e.RemoteSize, millisOrZero(e.RemoteMTime), e.SyncedHash, e.LocalState, tx.now)
	if err != nil {
		return fmt.Errorf("store file entry %q: %w", e.Path, err)
	}
	return nil
}

// FileEntry returns the entry of a path, if any.
func (tx *Tx) FileEntry(ctx context.Context, account, path string) (FileEntry, bool, error) {
	e, err := scanFileEntry(tx.tx.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM file_entries WHERE account = ? AND path = ?`, account, path))
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("read file entry %q: %w", path, err)
	}
	return e, true, nil
}

// underClause selects path and everything below it: "a/" ≤ p < "a0"
// ('0' follows '/' in byte order), so the range walks the unique index.
const underClause = `(path = ?2 OR (path >= ?2 || '/' AND path < ?2 || '0'))`

// FileEntriesUnder returns the entries of path and of everything below it,
// in path order. An empty path means the whole folder.
func (tx *Tx) FileEntriesUnder(ctx context.Context, account, path string) ([]FileEntry, error) {
	q := `SELECT ` + fileColumns + ` FROM file_entries WHERE account = ?1 AND ` + underClause + ` ORDER BY path`
	if path == "" {
		q = `SELECT ` + fileColumns + ` FROM file_entries WHERE account = ?1 AND ?2 = '' ORDER BY path`
	}
	return collectFileEntries(tx.tx.QueryContext(ctx, q, account, path))
}

// FileEntries returns every entry of an account, in path order.
func (db *DB) FileEntries(ctx context.Context, account string) ([]FileEntry, error) {
	return collectFileEntries(db.r.QueryContext(ctx, `SELECT `+fileColumns+` FROM file_entries WHERE account = ? ORDER BY path`, account))
}

func collectFileEntries(rows *sql.Rows, err error) ([]FileEntry, error) {
	if err != nil {
		return nil, fmt.Errorf("list file entries: %w", err)
	}
	defer rows.Close()
	var out []FileEntry
	for rows.Next() {
		e, err := scanFileEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("list file entries: %w", err)
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// DeleteFileTree removes the entry of path and of everything below it.
func (tx *Tx) DeleteFileTree(ctx context.Context, account, path string) error {
	if _, err := tx.exec(ctx, `DELETE FROM file_entries WHERE account = ?1 AND `+underClause, account, path); err != nil {
		return fmt.Errorf("forget %q: %w", path, err)
	}
	return nil
}

// DeleteFileEntry removes the entry of one path.
func (tx *Tx) DeleteFileEntry(ctx context.Context, account, path string) error {
	if _, err := tx.exec(ctx, `DELETE FROM file_entries WHERE account = ? AND path = ?`, account, path); err != nil {
		return fmt.Errorf("forget %q: %w", path, err)
	}
	return nil
}

// FileProblem is a path the last pass could not sync, and why.
type FileProblem struct {
	Path    string `json:"path"`
	Side    string `json:"side"` // local or remote
	Problem string `json:"problem"`
}

// FileRoot is how an account's files sync stands.
type FileRoot struct {
	Account     string
	Guard       string // why the engine stopped; "" while it runs
	GuardSince  time.Time
	LastSyncAt  time.Time
	LastError   string
	Problems    []FileProblem
	PendingDown int
}

// FileRoot returns the state of an account's files sync (zero when it
// never ran).
func (db *DB) FileRoot(ctx context.Context, account string) (FileRoot, error) {
	r := FileRoot{Account: account}
	var since, last sql.NullInt64
	var problems string
	err := db.r.QueryRowContext(ctx, `SELECT guard, guard_since, last_sync_at, last_error, problems, pending_down FROM file_roots WHERE account = ?`, account).
		Scan(&r.Guard, &since, &last, &r.LastError, &problems, &r.PendingDown)
	if errors.Is(err, sql.ErrNoRows) {
		return r, nil
	}
	if err != nil {
		return r, fmt.Errorf("read files state of %s: %w", account, err)
	}
	r.GuardSince, r.LastSyncAt = fromMillis(since), fromMillis(last)
	if err := json.Unmarshal([]byte(problems), &r.Problems); err != nil {
		return r, fmt.Errorf("read files problems of %s: %w", account, err)
	}
	return r, nil
}

func (tx *Tx) ensureFileRoot(ctx context.Context, account string) error {
	_, err := tx.exec(ctx, `INSERT INTO file_roots (account, updated_at) VALUES (?, ?) ON CONFLICT (account) DO NOTHING`, account, tx.now)
	return err
}

// SetFileGuard stops (why != "") or releases (why == "") an account's
// files sync.
func (tx *Tx) SetFileGuard(ctx context.Context, account, why string) error {
	if err := tx.ensureFileRoot(ctx, account); err != nil {
		return fmt.Errorf("files guard of %s: %w", account, err)
	}
	// guard_since keeps the start of a guard that stays on.
	_, err := tx.exec(ctx, `UPDATE file_roots SET
		guard_since = CASE WHEN ?1 = '' THEN NULL WHEN guard != '' THEN guard_since ELSE ?2 END,
		guard = ?1, updated_at = ?2 WHERE account = ?3`, why, tx.now, account)
	if err != nil {
		return fmt.Errorf("files guard of %s: %w", account, err)
	}
	return nil
}

// FilePassResult is what a finished pass records.
type FilePassResult struct {
	Err         string // "" when the pass completed
	Problems    []FileProblem
	PendingDown int
}

// RecordFilePass records the outcome of a pass; a completed one sets
// last_sync_at.
func (tx *Tx) RecordFilePass(ctx context.Context, account string, r FilePassResult) error {
	if err := tx.ensureFileRoot(ctx, account); err != nil {
		return fmt.Errorf("files state of %s: %w", account, err)
	}
	if r.Problems == nil {
		r.Problems = []FileProblem{}
	}
	problems, err := json.Marshal(r.Problems)
	if err != nil {
		return err
	}
	_, err = tx.exec(ctx, `UPDATE file_roots SET last_error = ?1, problems = ?2, pending_down = ?3,
		last_sync_at = CASE WHEN ?1 = '' THEN ?4 ELSE last_sync_at END, updated_at = ?4 WHERE account = ?5`,
		r.Err, string(problems), r.PendingDown, tx.now, account)
	if err != nil {
		return fmt.Errorf("files state of %s: %w", account, err)
	}
	return nil
}

// FileStats counts an account's mirrored files.
type FileStats struct {
	Files, Dirs, Bytes int64
	Pending            int64 // entries with a queued local change
}

// FileStats returns the counts of an account's entries.
func (db *DB) FileStats(ctx context.Context, account string) (FileStats, error) {
	var s FileStats
	err := db.r.QueryRowContext(ctx, `SELECT coalesce(sum(NOT is_dir AND local_state != 'deleted'), 0), coalesce(sum(is_dir AND local_state != 'deleted'), 0),
		coalesce(sum(CASE WHEN is_dir OR local_state = 'deleted' THEN 0 ELSE size END), 0), coalesce(sum(local_state != ''), 0)
		FROM file_entries WHERE account = ?`, account).Scan(&s.Files, &s.Dirs, &s.Bytes, &s.Pending)
	if err != nil {
		return s, fmt.Errorf("count files of %s: %w", account, err)
	}
	return s, nil
}

// FileEntry returns the entry of a path, if any (outside a transaction).
func (db *DB) FileEntry(ctx context.Context, account, path string) (FileEntry, bool, error) {
	e, err := scanFileEntry(db.r.QueryRowContext(ctx, `SELECT `+fileColumns+` FROM file_entries WHERE account = ? AND path = ?`, account, path))
	if errors.Is(err, sql.ErrNoRows) {
		return e, false, nil
	}
	if err != nil {
		return e, false, fmt.Errorf("read file entry %q: %w", path, err)
	}
	return e, true, nil
}

// FileEntriesUnder is Tx.FileEntriesUnder outside a transaction.
func (db *DB) FileEntriesUnder(ctx context.Context, account, path string) ([]FileEntry, error) {
	q := `SELECT ` + fileColumns + ` FROM file_entries WHERE account = ?1 AND ` + underClause + ` ORDER BY path`
	return collectFileEntries(db.r.QueryContext(ctx, q, account, path))
}

// OpenOutboxCount counts an account's unfinished actions among kinds
// (pending, inflight, failed, and conflicts that wait for a person).
func (db *DB) OpenOutboxCount(ctx context.Context, account string, kinds []string) (int, error) {
	ph, kargs := kindArgs(kinds)
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE account = ? AND kind IN (`+ph+`) AND state IN ('pending', 'inflight', 'failed', 'conflict')`,
		append([]any{account}, kargs...)...).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count queued actions of %s: %w", account, err)
	}
	return n, nil
}

// OpenConflictCount counts an account's open conflicts of one kind.
func (db *DB) OpenConflictCount(ctx context.Context, account, kind string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM conflicts WHERE account = ? AND kind = ? AND resolved_at IS NULL`, account, kind).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count conflicts of %s: %w", account, err)
	}
	return n, nil
}
