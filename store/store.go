// Package store is holdover's SQLite database: schema, embedded
// migrations and typed queries for every table. It is a concrete *DB, not a
// wide interface.
//
// Invariants:
//   - Every connection runs in WAL mode with synchronous=FULL,
//     foreign_keys=ON and a busy timeout, so a committed transaction is on
//     disk before the caller acknowledges anything to a user.
//   - There is exactly one writer connection, and every write transaction
//     starts with BEGIN IMMEDIATE: writers queue on our side instead of
//     failing with SQLITE_BUSY halfway through a transaction.
//   - Readers use a separate small pool of query-only connections, so reads
//     never wait for the writer (WAL gives them a consistent snapshot).
//   - The schema version lives in PRAGMA user_version. Migrations are
//     embedded and each runs in one transaction together with its version
//     bump. A database newer than this binary is refused untouched.
//   - Timestamps are stored as Unix milliseconds (UTC).
//   - No secret is ever written here.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/holdover/holdover/internal/clock"
)

// readPoolSize is small on purpose: the CLI and the local endpoints read a
// few rows at a time, and each SQLite connection costs its own page cache.
const readPoolSize = 4

// ErrTooNew reports a database written by a newer holdover.
var ErrTooNew = errors.New("database schema is newer than this holdover")

// ErrNotDatabase reports a file that SQLite cannot read as a database.
var ErrNotDatabase = errors.New("not a holdover database, or corrupt")

// DB is an open holdover database.
type DB struct {
	path  string
	w     *sql.DB // exactly one connection; every Begin is IMMEDIATE
	r     *sql.DB // query-only pool
	clock clock.Clock
	// commits wakes NextCommit's waiters after each committed Write.
	commits commits
}

// Option changes how Open sets up the DB.
type Option func(*DB)

// WithClock sets the clock used for created_at/updated_at and friends.
func WithClock(c clock.Clock) Option { return func(db *DB) { db.clock = c } }

// Open opens (creating if missing) the database at path and migrates it to
// the current schema. The directory must exist.
func Open(ctx context.Context, path string, opts ...Option) (*DB, error) {
	db := &DB{path: path, clock: clock.Real{}}
	for _, o := range opts {
		o(db)
	}
	if fi, err := os.Stat(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("open database %s: %s is not a directory", path, filepath.Dir(path))
	}
	// SQLite gives the -wal and -shm files the database file's mode, so
	// creating it private keeps the user's mail private even in a
	// world-readable directory.
	if f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	var err error
	if db.w, err = sql.Open("sqlite3", dsn(path, "_txlock=immediate")); err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.w.SetMaxOpenConns(1)
	db.w.SetConnMaxIdleTime(0)
	if err := pingRetry(ctx, db.w); err != nil {
		db.w.Close()
		return nil, openError(path, err)
	}
	if err := db.migrate(ctx); err != nil {
		db.w.Close()
		return nil, err
	}
	// Readers keep their prepared statements (per connection): the same
	// few queries run once per message when a mail app pulls a folder
	// through the IMAP endpoint, and preparing them again each time cost
	// as much as running them.
	if db.r, err = sql.Open("sqlite3", dsn(path, "_query_only=1&_stmt_cache_size=32")); err != nil {
		db.w.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.r.SetMaxOpenConns(readPoolSize)
	return db, nil
}

// pingRetry opens the first connection. Switching a brand-new file to
// WAL takes an exclusive lock without SQLite's busy handler, so two
// processes creating the database at the same moment can see "database
// is locked" once; that is worth a few short retries, nothing else is.
func pingRetry(ctx context.Context, db *sql.DB) error {
	var err error
	for i := 0; i < 50; i++ {
		if err = db.PingContext(ctx); err == nil {
			return nil
		}
		var se sqlite3.Error
		if !errors.As(err, &se) || se.Code != sqlite3.ErrBusy {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return err
}

func dsn(path string, extra string) string {
	q := url.Values{}
	q.Set("_journal_mode", "WAL")
	q.Set("_synchronous", "FULL")
	q.Set("_foreign_keys", "on")
	q.Set("_busy_timeout", "5000")
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode() + "&" + extra
}

// openError turns SQLite's terse failures into one line naming the file.
func openError(path string, err error) error {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrNotADB, sqlite3.ErrCorrupt:
			return fmt.Errorf("open database %s: %w (it was not modified; restore a backup or move it away)", path, ErrNotDatabase)
		case sqlite3.ErrCantOpen, sqlite3.ErrPerm, sqlite3.ErrReadonly, sqlite3.ErrAuth:
			return fmt.Errorf("open database %s: cannot open or write it (check the owner and permissions of the file and its directory): %w", path, err)
		}
	}
	return fmt.Errorf("open database %s: %w", path, err)
}

// Path returns the database file's path.
func (db *DB) Path() string { return db.path }

// Close closes every connection. The WAL is checkpointed by SQLite when
// the last connection closes.
func (db *DB) Close() error {
	return errors.Join(db.r.Close(), db.w.Close())
}

// now returns the clock's time in Unix milliseconds.
func (db *DB) now() int64 { return db.clock.Now().UnixMilli() }

// Write runs fn in one IMMEDIATE transaction on the writer connection and
// commits it (durably, synchronous=FULL) when fn returns nil.
func (db *DB) Write(ctx context.Context, fn func(*Tx) error) error {
	sqlTx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin write: %w", err)
	}
	tx := &Tx{tx: sqlTx, now: db.now()}
	if err := fn(tx); err != nil {
		sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.commits.fire()
	return nil
}

// Tx is a write transaction. Every timestamp written in one Tx is the same.
type Tx struct {
	tx  *sql.Tx
	now int64
	// stmts caches the statements execHot prepared in this transaction;
	// the driver closes them when the transaction ends.
	stmts map[string]*sql.Stmt
}

func (tx *Tx) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return tx.tx.ExecContext(ctx, query, args...)
}

// execHot runs one of the statements a sync repeats for every message of
// a batch (a body chunk, an index row, a message row). Two costs of exec
// dominate there, measured with bench/mail.sh -pprof: compiling the same
// SQL again for every row, and the goroutine the driver starts per
// statement to watch a cancellable context. So the statement is prepared
// once per transaction, and ctx is checked before each row instead of
// during it: one row's statement is short, and the transaction as a
// whole still ends (rolled back) when ctx does.
func (tx *Tx) execHot(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	st := tx.stmts[query]
	if st == nil {
		var err error
		if st, err = tx.tx.PrepareContext(ctx, query); err != nil {
			return nil, err
		}
		if tx.stmts == nil {
			tx.stmts = map[string]*sql.Stmt{}
		}
		tx.stmts[query] = st
	}
	return st.ExecContext(context.WithoutCancel(ctx), args...)
}

func fromMillis(ms sql.NullInt64) time.Time {
	if !ms.Valid {
		return time.Time{}
	}
	return time.UnixMilli(ms.Int64).UTC()
}

func nullString(s sql.NullString) string {
	if s.Valid {
		return s.String
	}
	return ""
}

// placeholders returns "?,?,?" for n arguments.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

// prefixed qualifies a comma-separated column list with a table alias.
func prefixed(alias, columns string) string {
	parts := strings.Split(columns, ", ")
	for i, p := range parts {
		parts[i] = alias + p
	}
	return strings.Join(parts, ", ")
}
