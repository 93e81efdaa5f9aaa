package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/holdover/holdover/internal/atomicfile"
)

// CheckReport is what `holdover db check` prints.
type CheckReport struct {
	Path          string         `json:"path"`
	OK            bool           `json:"ok"`
	Integrity     []string       `json:"integrity"` // "ok", or SQLite's list of problems
	SchemaVersion int            `json:"schema_version"`
	JournalMode   string         `json:"journal_mode"`
	SizeBytes     int64          `json:"size_bytes"`
	WALBytes      int64          `json:"wal_bytes"`
	Tables        map[string]int `json:"tables"` // row counts
	// OutboxPrunable is what outbox retention would delete now; the
	// caller fills it (see PrunableOutbox): the store does not know the
	// configured retention.
	OutboxPrunable *OutboxPrunable `json:"outbox_prunable,omitempty"`
	KeepDone       string          `json:"outbox_keep_done,omitempty"`
}

// Check runs PRAGMA integrity_check and gathers quick statistics.
func (db *DB) Check(ctx context.Context) (CheckReport, error) {
	rep := CheckReport{Path: db.path, Tables: map[string]int{}}
	// A fresh connection: a pooled reader may hold a stale FTS5 structure
	// that integrity_check (unlike MATCH) does not refresh, and then
	// reports a sound index as corrupt.
	conn, err := sql.Open("sqlite3", dsn(db.path, "_query_only=1"))
	if err != nil {
		return rep, fmt.Errorf("integrity check: %w", err)
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return rep, fmt.Errorf("integrity check: %w", err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return rep, err
		}
		rep.Integrity = append(rep.Integrity, line)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return rep, fmt.Errorf("integrity check: %w", err)
	}
	rep.OK = len(rep.Integrity) == 1 && rep.Integrity[0] == "ok"
	if err := db.r.QueryRowContext(ctx, `PRAGMA user_version`).Scan(&rep.SchemaVersion); err != nil {
		return rep, err
	}
	if err := db.r.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&rep.JournalMode); err != nil {
		return rep, err
	}
	tables, err := db.tableNames(ctx)
	if err != nil {
		return rep, err
	}
	for _, t := range tables {
		var n int
		// Table names come from the schema, not from input.
		if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM "`+t+`"`).Scan(&n); err != nil {
			return rep, fmt.Errorf("count %s: %w", t, err)
		}
		rep.Tables[t] = n
	}
	if fi, err := os.Stat(db.path); err == nil {
		rep.SizeBytes = fi.Size()
	}
	if fi, err := os.Stat(db.path + "-wal"); err == nil {
		rep.WALBytes = fi.Size()
	}
	return rep, nil
}

func (db *DB) tableNames(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// Backup writes a consistent copy of the database to dest with VACUUM INTO,
// which reads one snapshot and so is safe while the daemon writes. An
// existing dest is never overwritten. The copy is written next to dest and
// renamed into place, so a failed backup leaves no partial file behind.
func (db *DB) Backup(ctx context.Context, dest string) error {
	abs, err := filepath.Abs(dest)
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	if _, err := os.Lstat(abs); err == nil {
		return fmt.Errorf("backup to %s: %w (refusing to overwrite)", dest, os.ErrExist)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	tmp := abs + ".partial"
	os.Remove(tmp)
	// A connection of its own: readers are query_only (which forbids VACUUM
	// INTO), and the writer must stay free for the daemon meanwhile.
	conn, err := sql.Open("sqlite3", dsn(db.path, "_query_only=0"))
	if err != nil {
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	if err := syncFile(tmp); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	// Link, not rename: it fails instead of replacing a file created meanwhile.
	if err := os.Link(tmp, abs); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("backup to %s: %w", dest, err)
	}
	os.Remove(tmp)
	return atomicfile.SyncDir(filepath.Dir(abs))
}

// syncFile makes the backup private (it holds the user's mail) and durable.
func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	return f.Sync()
}
