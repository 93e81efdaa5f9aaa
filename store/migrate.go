package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

type migration struct {
	version int
	name    string
	sql     string
}

// migrations returns the embedded migrations in version order. Files are
// named NNNN_description.sql; versions start at 1 and have no gaps.
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var ms []migration
	for i, name := range names {
		base := strings.TrimPrefix(name, "migrations/")
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", base, i+1)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(body)})
	}
	return ms, nil
}

// SchemaVersion is the version this binary migrates databases to.
func SchemaVersion() int {
	ms, err := migrations()
	if err != nil {
		panic(err) // the embedded files are part of the binary; tests catch this
	}
	return len(ms)
}

// migrate brings the database up to SchemaVersion, one transaction per
// migration. A newer database is refused before anything is written.
func (db *DB) migrate(ctx context.Context) error {
	ms, err := migrations()
	if err != nil {
		return err
	}
	var have int
	if err := db.w.QueryRowContext(ctx, "PRAGMA user_version").Scan(&have); err != nil {
		return openError(db.path, err)
	}
	if have > len(ms) {
		return fmt.Errorf("open database %s: schema version %d, this holdover knows up to %d: %w (upgrade holdover; the database was not changed)",
			db.path, have, len(ms), ErrTooNew)
	}
	for _, m := range ms[have:] {
		err := db.Write(ctx, func(tx *Tx) error {
			// Another process may have migrated since we looked: the
			// IMMEDIATE transaction holds the write lock, so check again.
			var now int
			if err := tx.tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&now); err != nil {
				return err
			}
			if now >= m.version {
				return nil
			}
			if _, err := tx.exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.exec(ctx, fmt.Sprintf("PRAGMA user_version = %d", m.version))
			return err
		})
		if err != nil && strings.Contains(err.Error(), "no such module: fts5") {
			return fmt.Errorf("open database %s: this holdover was built without SQLite FTS5 (build it with -tags sqlite_fts5, as the Makefile does); the database was not changed", db.path)
		}
		if err != nil {
			return fmt.Errorf("open database %s: migration %s: %w", db.path, m.name, err)
		}
	}
	return nil
}
