package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// What changed in a folder since a local IMAP session read it, by the
// change counters of migration 0015. The reads are cheap on purpose: an
// unchanged folder costs one primary-key read, a changed one the rows
// that changed (and the UID list only when a message left it).

// LocalMailCounters are a folder's change counters (migration 0015).
type LocalMailCounters struct {
	// ModSeq grows at every change a client can see in the folder.
	ModSeq uint64
	// Removed grows when a shown message leaves the folder's rows
	// (moved out, deleted).
	Removed uint64
}

// LocalMailCountersOf returns a folder's change counters; ErrNotFound
// when the folder is gone.
func (db *DB) LocalMailCountersOf(ctx context.Context, folderID int64) (LocalMailCounters, error) {
	var c LocalMailCounters
	err := db.r.QueryRowContext(ctx, `SELECT local_modseq, local_removed FROM mail_folders WHERE id = ?`, folderID).Scan(&c.ModSeq, &c.Removed)
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("folder %d: %w", folderID, ErrNotFound)
	}
	if err != nil {
		return c, fmt.Errorf("change counters of folder %d: %w", folderID, err)
	}
	return c, nil
}

// LocalMailUIDs returns the local UIDs the folder shows, up to and
// including upTo, ascending.
func (db *DB) LocalMailUIDs(ctx context.Context, folderID int64, upTo uint32) ([]uint32, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT local_uid FROM mail_messages WHERE folder_id = ? AND deleted = 0 AND local_uid <= ? ORDER BY local_uid`, folderID, upTo)
	if err != nil {
		return nil, fmt.Errorf("local UIDs of folder %d: %w", folderID, err)
	}
	defer rows.Close()
	var out []uint32
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
