package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The local view of the calendars, as the local CalDAV endpoint serves
// it: the objects not hidden by a queued deletion, each with the local
// change count of its last change (see migration 0014), which never
// moves when the provider answers a replay.

// LocalCalObject is an object of the local view.
type LocalCalObject struct {
	ID         int64
	CalendarID int64
	Href       string
	UID        string
	ETag       string // the provider's, for the replay; not the local one
	LocalSeq   int64  // the local change count of its last change
	LocalState string
	UpdatedAt  time.Time
	Bad        bool
	Size       int64
	Data       []byte // filled only by reads that say so
}

const localCalColumns = `id, calendar_id, href, uid, etag, local_seq, local_state, updated_at, bad, length(data)`

func scanLocalCal(s scanner, withData bool) (LocalCalObject, error) {
	var o LocalCalObject
	var updated int64
	dest := []any{&o.ID, &o.CalendarID, &o.Href, &o.UID, &o.ETag, &o.LocalSeq, &o.LocalState, &updated, &o.Bad, &o.Size}
	if withData {
		dest = append(dest, &o.Data)
	}
	err := s.Scan(dest...)
	o.UpdatedAt = time.UnixMilli(updated).UTC()
	return o, err
}

// CalLocalSeq returns a calendar's local change count and where it
// started counting.
func (db *DB) CalLocalSeq(ctx context.Context, calendarID int64) (seq, base int64, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT local_seq, local_seq_base FROM calendars WHERE id = ?`, calendarID).Scan(&seq, &base)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, fmt.Errorf("calendar %d: %w", calendarID, ErrNotFound)
	}
	return seq, base, err
}

// CalLocalSeqTx is CalLocalSeq inside a transaction.
func (tx *Tx) CalLocalSeqTx(ctx context.Context, calendarID int64) (int64, error) {
	var seq int64
	err := tx.tx.QueryRowContext(ctx, `SELECT local_seq FROM calendars WHERE id = ?`, calendarID).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("calendar %d: %w", calendarID, ErrNotFound)
	}
	return seq, err
}

// LocalCalObjects lists the visible objects of a calendar by href, with
// their data when withData; with since > 0, only those changed after
// that count, up to upTo (0: no bound).
func (db *DB) LocalCalObjects(ctx context.Context, calendarID int64, withData bool, since, upTo int64) ([]LocalCalObject, error) {
	cols := localCalColumns
	if withData {
		cols += ", data"
	}
	if upTo == 0 {
		upTo = 1 << 62
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+cols+` FROM cal_objects
		WHERE calendar_id = ? AND local_state != 'deleted' AND local_seq > ? AND local_seq <= ? ORDER BY href`, calendarID, since, upTo)
	if err != nil {
		return nil, fmt.Errorf("list calendar objects: %w", err)
	}
	defer rows.Close()
	var out []LocalCalObject
	for rows.Next() {
		o, err := scanLocalCal(rows, withData)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// LocalCalRemoved lists the hrefs that left a calendar's local view after
// count since, up to upTo: removed rows and rows hidden by a queued
// deletion.
func (db *DB) LocalCalRemoved(ctx context.Context, calendarID, since, upTo int64) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT href FROM cal_removed WHERE calendar_id = ?1 AND local_seq > ?2 AND local_seq <= ?3
		UNION SELECT href FROM cal_objects WHERE calendar_id = ?1 AND local_state = 'deleted' AND local_seq > ?2 AND local_seq <= ?3
		ORDER BY 1`, calendarID, since, upTo)
	if err != nil {
		return nil, fmt.Errorf("list removed calendar objects: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		out = append(out, h)
	}
	return out, rows.Err()
}

// LocalCalObjectAt returns the object of a calendar at one of hrefs (the
// spellings of one name), with its data, hidden or not; ErrNotFound
// when there is none.
func (db *DB) LocalCalObjectAt(ctx context.Context, calendarID int64, hrefs ...string) (LocalCalObject, error) {
	return localCalAt(ctx, db.r.QueryRowContext, calendarID, hrefs)
}

// LocalCalObjectAtTx is LocalCalObjectAt inside a transaction.
func (tx *Tx) LocalCalObjectAtTx(ctx context.Context, calendarID int64, hrefs ...string) (LocalCalObject, error) {
	return localCalAt(ctx, tx.tx.QueryRowContext, calendarID, hrefs)
}

func localCalAt(ctx context.Context, query func(context.Context, string, ...any) *sql.Row, calendarID int64, hrefs []string) (LocalCalObject, error) {
	if len(hrefs) == 0 {
		return LocalCalObject{}, fmt.Errorf("calendar object: %w", ErrNotFound)
	}
	args := []any{calendarID}
	in := ""
	for i, h := range hrefs {
		if i > 0 {
			in += ", "
		}
		in += "?"
		args = append(args, h)
	}
	o, err := scanLocalCal(query(ctx, `SELECT `+localCalColumns+`, data FROM cal_objects WHERE calendar_id = ? AND href IN (`+in+`) ORDER BY id LIMIT 1`, args...), true)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("calendar object %s: %w", hrefs[0], ErrNotFound)
	}
	return o, err
}
