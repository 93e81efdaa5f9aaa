package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Calendar is a mirrored CalDAV calendar and its sync state.
type Calendar struct {
	ID         int64
	Account    string
	Href       string
	Name       string
	Color      string
	Components []string
	CTag       string
	SyncToken  string
	SyncedAt   time.Time
}

const calendarColumns = `id, account, href, name, color, components, ctag, sync_token, synced_at`

func scanCalendar(s scanner) (Calendar, error) {
	var c Calendar
	var comps string
	var at sql.NullInt64
	err := s.Scan(&c.ID, &c.Account, &c.Href, &c.Name, &c.Color, &comps, &c.CTag, &c.SyncToken, &at)
	if comps != "" {
		c.Components = strings.Split(comps, " ")
	}
	c.SyncedAt = fromMillis(at)
	return c, err
}

// Calendars lists an account's calendars ("" for every account) by name.
func (db *DB) Calendars(ctx context.Context, account string) ([]Calendar, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+calendarColumns+` FROM calendars WHERE ? = '' OR account = ? ORDER BY account, name, href`, account, account)
	if err != nil {
		return nil, fmt.Errorf("list calendars: %w", err)
	}
	defer rows.Close()
	var out []Calendar
	for rows.Next() {
		c, err := scanCalendar(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// CalendarByID returns a calendar.
func (db *DB) CalendarByID(ctx context.Context, id int64) (Calendar, error) {
	c, err := scanCalendar(db.r.QueryRowContext(ctx, `SELECT `+calendarColumns+` FROM calendars WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("calendar %d: %w", id, ErrNotFound)
	}
	return c, err
}

// UpsertCalendar records a calendar the server lists, keeping its sync
// state when it exists, and returns its id.
func (tx *Tx) UpsertCalendar(ctx context.Context, c Calendar) (int64, error) {
	var id int64
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO calendars (account, href, name, color, components) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (account, href) DO UPDATE SET name = excluded.name, color = excluded.color, components = excluded.components
		RETURNING id`, c.Account, c.Href, c.Name, c.Color, strings.Join(c.Components, " ")).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store calendar %q: %w", c.Href, err)
	}
	return id, nil
}

// SetCalendarState records what a completed sync of a calendar saw.
func (tx *Tx) SetCalendarState(ctx context.Context, id int64, ctag, syncToken string) error {
	if _, err := tx.exec(ctx, `UPDATE calendars SET ctag = ?, sync_token = ?, synced_at = ? WHERE id = ?`, ctag, syncToken, tx.now, id); err != nil {
		return fmt.Errorf("record calendar %d state: %w", id, err)
	}
	return nil
}

// DeleteCalendar removes a calendar the server no longer has, with its
// objects.
func (tx *Tx) DeleteCalendar(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `DELETE FROM calendars WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete calendar %d: %w", id, err)
	}
	return nil
}
