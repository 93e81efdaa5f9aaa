package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Local states of a calendar object: which local change is queued.
const (
	CalSynced   = ""
	CalCreated  = "created"
	CalModified = "modified"
	CalDeleted  = "deleted"
)

// CalFields are what the listing needs of an object, derived from its
// iCalendar data by the caller when it stores the data.
type CalFields struct {
	UID       string
	Kind      string // VEVENT, VTODO
	Summary   string
	Start     time.Time // first occurrence; zero when unknown (bad data)
	End       time.Time
	LastEnd   time.Time // end of the last occurrence; zero with Unbounded or bad data
	Unbounded bool
	AllDay    bool
	Recurring bool
	Bad       bool     // the data could not be parsed; kept as received
	Warnings  []string // what was odd about it
}

// CalObject is a stored calendar object.
type CalObject struct {
	ID         int64
	CalendarID int64
	Account    string // filled by reads that join the calendar
	Calendar   string // the calendar's name, idem
	Href       string
	ETag       string
	LocalState string
	UpdatedAt  time.Time
	CalFields
	Data []byte // filled only by reads that say so
}

const calObjectColumns = `o.id, o.calendar_id, c.account, c.name, o.href, o.etag, o.local_state, o.updated_at,
	o.uid, o.kind, o.summary, o.start_at, o.end_at, o.last_end, o.all_day, o.recurring, o.bad, o.warnings`

func scanCalObject(s scanner, withData bool) (CalObject, error) {
	var o CalObject
	var updated int64
	var start, end, last sql.NullInt64
	var warnings string
	dest := []any{&o.ID, &o.CalendarID, &o.Account, &o.Calendar, &o.Href, &o.ETag, &o.LocalState, &updated,
		&o.UID, &o.Kind, &o.Summary, &start, &end, &last, &o.AllDay, &o.Recurring, &o.Bad, &warnings}
	if withData {
		dest = append(dest, &o.Data)
	}
	if err := s.Scan(dest...); err != nil {
		return o, err
	}
	o.UpdatedAt = time.UnixMilli(updated).UTC()
	o.Start, o.End, o.LastEnd = fromMillis(start), fromMillis(end), fromMillis(last)
	o.Unbounded = start.Valid && !last.Valid && !o.Bad
	if warnings != "" {
		o.Warnings = strings.Split(warnings, "\n")
	}
	return o, nil
}

func (f CalFields) args() []any {
	last := millisOrNil(f.LastEnd)
	if f.Unbounded {
		last = nil
	}
	return []any{f.UID, f.Kind, f.Summary, millisOrNil(f.Start), millisOrNil(f.End), last, f.AllDay, f.Recurring, f.Bad, strings.Join(f.Warnings, "\n")}
}

// StoreServerObject records the server's version of an object (new or
// changed there) unless a local change to it is queued: that one wins
// until its replay, whose precondition finds out about the server's
// change. It reports whether the row was written.
func (tx *Tx) StoreServerObject(ctx context.Context, calendarID int64, href, etag string, data []byte, f CalFields) (bool, error) {
	res, err := tx.exec(ctx, `INSERT INTO cal_objects (calendar_id, href, etag, data, updated_at, uid, kind, summary, start_at, end_at, last_end, all_day, recurring, bad, warnings)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (calendar_id, href) DO UPDATE SET etag = excluded.etag, data = excluded.data, updated_at = excluded.updated_at,
			uid = excluded.uid, kind = excluded.kind, summary = excluded.summary, start_at = excluded.start_at, end_at = excluded.end_at,
			last_end = excluded.last_end, all_day = excluded.all_day, recurring = excluded.recurring, bad = excluded.bad, warnings = excluded.warnings
		WHERE cal_objects.local_state = ''`,
		append([]any{calendarID, href, etag, data, tx.now}, f.args()...)...)
	if err != nil {
		return false, fmt.Errorf("store calendar object %s: %w", href, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// DeleteServerObjects removes objects the server no longer has, except
// those with a queued local change (the replay settles them).
func (tx *Tx) DeleteServerObjects(ctx context.Context, calendarID int64, hrefs []string) (int, error) {
	removed := 0
	for _, h := range hrefs {
		res, err := tx.exec(ctx, `DELETE FROM cal_objects WHERE calendar_id = ? AND href = ? AND local_state = ''`, calendarID, h)
		if err != nil {
			return removed, fmt.Errorf("delete calendar object %s: %w", h, err)
		}
		n, _ := res.RowsAffected()
		removed += int(n)
	}
	return removed, nil
}

// CalVersion is an object's stored ETag and local state.
type CalVersion struct {
	ETag       string
	LocalState string
}

// CalVersions returns every object of a calendar by href.
func (db *DB) CalVersions(ctx context.Context, calendarID int64) (map[string]CalVersion, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT href, etag, local_state FROM cal_objects WHERE calendar_id = ?`, calendarID)
	if err != nil {
		return nil, fmt.Errorf("list calendar objects: %w", err)
	}
	defer rows.Close()
	out := map[string]CalVersion{}
	for rows.Next() {
		var h string
		var v CalVersion
		if err := rows.Scan(&h, &v.ETag, &v.LocalState); err != nil {
			return nil, err
		}
		out[h] = v
	}
	return out, rows.Err()
}

// CalObjectByID returns an object with its data.
func (db *DB) CalObjectByID(ctx context.Context, id int64) (CalObject, error) {
	o, err := scanCalObject(db.r.QueryRowContext(ctx, `SELECT `+calObjectColumns+`, o.data FROM cal_objects o JOIN calendars c ON c.id = o.calendar_id WHERE o.id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("calendar object %d: %w", id, ErrNotFound)
	}
	return o, err
}

// CalObjectTx reads an object with its data inside a transaction.
func (tx *Tx) CalObjectTx(ctx context.Context, id int64) (CalObject, error) {
	o, err := scanCalObject(tx.tx.QueryRowContext(ctx, `SELECT `+calObjectColumns+`, o.data FROM cal_objects o JOIN calendars c ON c.id = o.calendar_id WHERE o.id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return o, fmt.Errorf("calendar object %d: %w", id, ErrNotFound)
	}
	return o, err
}

// CalRange selects objects for CalObjectsInRange.
type CalRange struct {
	Account    string // "" for every account
	CalendarID int64  // 0 for every calendar
	From, To   time.Time
}

// CalObjectsInRange returns the objects (with data) that may have an
// occurrence overlapping [From, To): the first starts before To and the
// last ends after From (or never). Objects deleted locally are left out;
// bad objects are included (they are listed with their warning).
func (db *DB) CalObjectsInRange(ctx context.Context, r CalRange) ([]CalObject, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+calObjectColumns+`, o.data FROM cal_objects o JOIN calendars c ON c.id = o.calendar_id
		WHERE (?1 = '' OR c.account = ?1) AND (?2 = 0 OR o.calendar_id = ?2) AND o.local_state != 'deleted'
		  AND (o.bad = 1 OR (o.start_at < ?4 AND (o.last_end IS NULL OR o.last_end > ?3)))
		ORDER BY o.start_at, o.id`, r.Account, r.CalendarID, r.From.UnixMilli(), r.To.UnixMilli())
	if err != nil {
		return nil, fmt.Errorf("list calendar objects: %w", err)
	}
	defer rows.Close()
	var out []CalObject
	for rows.Next() {
		o, err := scanCalObject(rows, true)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// CalObjectsByUID returns the objects of an account with a UID.
func (db *DB) CalObjectsByUID(ctx context.Context, account, uid string) ([]CalObject, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+calObjectColumns+` FROM cal_objects o JOIN calendars c ON c.id = o.calendar_id
		WHERE c.account = ? AND o.uid = ?`, account, uid)
	if err != nil {
		return nil, fmt.Errorf("find calendar object: %w", err)
	}
	defer rows.Close()
	var out []CalObject
	for rows.Next() {
		o, err := scanCalObject(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, rows.Err()
}

// InsertLocalObject stores an object the user created; its href and UID
// are fixed here, so a replay can never create it twice.
func (tx *Tx) InsertLocalObject(ctx context.Context, calendarID int64, href string, data []byte, f CalFields) (int64, error) {
	res, err := tx.exec(ctx, `INSERT INTO cal_objects (calendar_id, href, etag, data, local_state, updated_at, uid, kind, summary, start_at, end_at, last_end, all_day, recurring, bad, warnings)
		VALUES (?, ?, '', ?, 'created', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		append([]any{calendarID, href, data, tx.now}, f.args()...)...)
	if err != nil {
		return 0, fmt.Errorf("store new calendar object: %w", err)
	}
	return res.LastInsertId()
}

// SetLocalObject replaces an object's data with the user's edit. A created
// object stays "created" (it is not on the server yet).
func (tx *Tx) SetLocalObject(ctx context.Context, id int64, data []byte, f CalFields) error {
	_, err := tx.exec(ctx, `UPDATE cal_objects SET data = ?, updated_at = ?, local_state = CASE local_state WHEN 'created' THEN 'created' ELSE 'modified' END,
		uid = ?, kind = ?, summary = ?, start_at = ?, end_at = ?, last_end = ?, all_day = ?, recurring = ?, bad = ?, warnings = ? WHERE id = ?`,
		append(append([]any{data, tx.now}, f.args()...), id)...)
	if err != nil {
		return fmt.Errorf("edit calendar object %d: %w", id, err)
	}
	return nil
}

// MarkCalDeleted hides an object whose deletion is queued.
func (tx *Tx) MarkCalDeleted(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `UPDATE cal_objects SET local_state = 'deleted', updated_at = ? WHERE id = ?`, tx.now, id); err != nil {
		return fmt.Errorf("delete calendar object %d: %w", id, err)
	}
	return nil
}

// SetCalSynced records that the server has sent, with this ETag: the
// object is synced if its data is still what was sent; a local edit made
// meanwhile stays queued (as a modification: the object is on the server
// now), and so does a local deletion (its data is unchanged, but its
// queued DELETE must still run).
func (tx *Tx) SetCalSynced(ctx context.Context, id int64, etag string, sent []byte) error {
	_, err := tx.exec(ctx, `UPDATE cal_objects SET etag = ?,
		local_state = CASE WHEN local_state = 'deleted' THEN 'deleted' WHEN data = ? THEN '' WHEN local_state = 'created' THEN 'modified' ELSE local_state END WHERE id = ?`, etag, sent, id)
	if err != nil {
		return fmt.Errorf("record calendar object %d: %w", id, err)
	}
	return nil
}

// ApplyServerVersion replaces an object's data with the server's, whatever
// is queued (a conflict decided for the server, or parked for a person).
func (tx *Tx) ApplyServerVersion(ctx context.Context, id int64, etag string, data []byte, f CalFields) error {
	_, err := tx.exec(ctx, `UPDATE cal_objects SET etag = ?, data = ?, local_state = '', updated_at = ?,
		uid = ?, kind = ?, summary = ?, start_at = ?, end_at = ?, last_end = ?, all_day = ?, recurring = ?, bad = ?, warnings = ? WHERE id = ?`,
		append(append([]any{etag, data, tx.now}, f.args()...), id)...)
	if err != nil {
		return fmt.Errorf("apply the server's version of calendar object %d: %w", id, err)
	}
	return nil
}

// DeleteCalObject removes an object row.
func (tx *Tx) DeleteCalObject(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `DELETE FROM cal_objects WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete calendar object %d: %w", id, err)
	}
	return nil
}
