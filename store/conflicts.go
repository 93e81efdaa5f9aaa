package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Conflict is a change the provider and the user both made, with both
// versions kept until a person (or the policy) decides.
type Conflict struct {
	ID            int64
	Account       string
	Kind          string // mail, calendar, file
	TargetKey     string // the outbox key of the thing in conflict ("cal:12")
	OutboxID      int64  // the action that met the conflict; 0 when gone
	LocalVersion  []byte // nil when the local side deleted it
	RemoteVersion []byte // nil when the server deleted it
	LocalMeta     string // a JSON summary of each side (for listing)
	RemoteMeta    string
	Policy        string // ask, server-wins, local-wins, newest, keep-both
	Resolution    string // "" while open; local, remote, both, dismissed
	CreatedAt     time.Time
	ResolvedAt    time.Time
}

// Open reports whether the conflict waits for a decision.
func (c Conflict) Open() bool { return c.ResolvedAt.IsZero() }

const conflictColumns = `id, account, kind, target_key, outbox_id, local_version, remote_version, local_meta, remote_meta, policy, resolution, created_at, resolved_at`

func scanConflict(s scanner) (Conflict, error) {
	var c Conflict
	var outbox, resolved sql.NullInt64
	var lmeta, rmeta, res sql.NullString
	var created int64
	err := s.Scan(&c.ID, &c.Account, &c.Kind, &c.TargetKey, &outbox, &c.LocalVersion, &c.RemoteVersion, &lmeta, &rmeta, &c.Policy, &res, &created, &resolved)
	c.OutboxID = outbox.Int64
	c.LocalMeta, c.RemoteMeta, c.Resolution = nullString(lmeta), nullString(rmeta), nullString(res)
	c.CreatedAt, c.ResolvedAt = time.UnixMilli(created).UTC(), fromMillis(resolved)
	return c, err
}

// InsertConflict records a conflict; a resolved one (a policy decided)
// is kept for the record.
func (tx *Tx) InsertConflict(ctx context.Context, c Conflict) (int64, error) {
	var outbox, resolution, resolvedAt any
	if c.OutboxID != 0 {
		outbox = c.OutboxID
	}
	if c.Resolution != "" {
		resolution, resolvedAt = c.Resolution, tx.now
	}
	res, err := tx.exec(ctx, `INSERT INTO conflicts (account, kind, target_key, outbox_id, local_version, remote_version, local_meta, remote_meta, policy, resolution, created_at, resolved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Account, c.Kind, c.TargetKey, outbox, c.LocalVersion, c.RemoteVersion, c.LocalMeta, c.RemoteMeta, c.Policy, resolution, tx.now, resolvedAt)
	if err != nil {
		return 0, fmt.Errorf("record conflict on %s: %w", c.TargetKey, err)
	}
	return res.LastInsertId()
}

// ConflictFilter selects conflicts.
type ConflictFilter struct {
	Account  string
	OpenOnly bool
}

// Conflicts lists conflicts, newest first.
func (db *DB) Conflicts(ctx context.Context, f ConflictFilter) ([]Conflict, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+conflictColumns+` FROM conflicts
		WHERE (?1 = '' OR account = ?1) AND (?2 = 0 OR resolved_at IS NULL) ORDER BY created_at DESC, id DESC`, f.Account, f.OpenOnly)
	if err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	defer rows.Close()
	var out []Conflict
	for rows.Next() {
		c, err := scanConflict(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// ConflictByID returns one conflict.
func (db *DB) ConflictByID(ctx context.Context, id int64) (Conflict, error) {
	c, err := scanConflict(db.r.QueryRowContext(ctx, `SELECT `+conflictColumns+` FROM conflicts WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("conflict %d: %w", id, ErrNotFound)
	}
	return c, err
}

// ResolveConflict records a decision on an open conflict; ErrState when
// it was decided already.
func (tx *Tx) ResolveConflict(ctx context.Context, id int64, resolution string) error {
	res, err := tx.exec(ctx, `UPDATE conflicts SET resolution = ?, resolved_at = ? WHERE id = ? AND resolved_at IS NULL`, resolution, tx.now, id)
	if err != nil {
		return fmt.Errorf("resolve conflict %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("conflict %d: %w (it is resolved already, or does not exist)", id, ErrState)
	}
	return nil
}

// OpenConflictOn returns the open conflict of a target key, if any.
func (tx *Tx) OpenConflictOn(ctx context.Context, account, targetKey string) (Conflict, bool, error) {
	c, err := scanConflict(tx.tx.QueryRowContext(ctx, `SELECT `+conflictColumns+` FROM conflicts WHERE account = ? AND target_key = ? AND resolved_at IS NULL ORDER BY id DESC LIMIT 1`, account, targetKey))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}

// OpenConflictOfOutbox returns the open conflict an action met, if any.
func (db *DB) OpenConflictOfOutbox(ctx context.Context, outboxID int64) (Conflict, bool, error) {
	c, err := scanConflict(db.r.QueryRowContext(ctx, `SELECT `+conflictColumns+` FROM conflicts WHERE outbox_id = ? AND resolved_at IS NULL ORDER BY id DESC LIMIT 1`, outboxID))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	return c, err == nil, err
}
