package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// Services are the provider services whose health is tracked.
var Services = []string{"imap", "smtp", "caldav", "webdav"}

// HealthState is a service's state as seen by holdover.
type HealthState string

// The health states. Unknown means holdover has not talked to it yet.
// NeedsLogin: the account's OAuth2 sign-in is gone and only the person
// can renew it (`holdover account login`); not an outage, since the
// provider itself may be fine.
const (
	HealthUp         HealthState = "up"
	HealthDegraded   HealthState = "degraded"
	HealthDown       HealthState = "down"
	HealthUnknown    HealthState = "unknown"
	HealthNeedsLogin HealthState = "needs-login"
)

// Health is a row of provider_health.
type Health struct {
	Account             string
	Service             string
	State               HealthState
	Since               time.Time
	LastError           string
	LastErrorAt         time.Time
	ConsecutiveFailures int
	UpdatedAt           time.Time
}

// SetHealth records a service's state. Since only moves when the state
// changes; lastErr, when not empty, replaces the last error (which the
// caller must have stripped of secrets).
func (tx *Tx) SetHealth(ctx context.Context, account, service string, state HealthState, failures int, lastErr string) error {
	var errArg, errAt any
	if lastErr != "" {
		errArg, errAt = lastErr, tx.now
	}
	_, err := tx.exec(ctx, `INSERT INTO provider_health (account, service, state, since, last_error, last_error_at, consecutive_failures, updated_at)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4)
		ON CONFLICT (account, service) DO UPDATE SET
			since = CASE WHEN state = excluded.state THEN since ELSE excluded.since END,
			state = excluded.state,
			last_error = coalesce(excluded.last_error, last_error),
			last_error_at = coalesce(excluded.last_error_at, last_error_at),
			consecutive_failures = excluded.consecutive_failures,
			updated_at = excluded.updated_at`,
		account, service, string(state), tx.now, errArg, errAt, failures)
	if err != nil {
		return fmt.Errorf("record %s/%s health: %w", account, service, err)
	}
	return nil
}

// HealthRows returns every recorded service state, by account and service.
func (db *DB) HealthRows(ctx context.Context) ([]Health, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account, service, state, since, last_error, last_error_at, consecutive_failures, updated_at
		FROM provider_health ORDER BY account, service`)
	if err != nil {
		return nil, fmt.Errorf("read provider health: %w", err)
	}
	defer rows.Close()
	var out []Health
	for rows.Next() {
		var h Health
		var state string
		var since, updated int64
		var lastErr sql.NullString
		var errAt sql.NullInt64
		if err := rows.Scan(&h.Account, &h.Service, &state, &since, &lastErr, &errAt, &h.ConsecutiveFailures, &updated); err != nil {
			return nil, err
		}
		h.State = HealthState(state)
		h.Since = time.UnixMilli(since).UTC()
		h.LastError = nullString(lastErr)
		h.LastErrorAt = fromMillis(errAt)
		h.UpdatedAt = time.UnixMilli(updated).UTC()
		out = append(out, h)
	}
	return out, rows.Err()
}

// Outage is a row of outages. EndedAt is zero while it is open.
type Outage struct {
	ID        int64
	Account   string
	Service   string
	StartedAt time.Time
	EndedAt   time.Time
	Cause     string
	Queued    int
	Replayed  int
}

// Open reports whether the outage has not ended.
func (o Outage) Open() bool { return o.EndedAt.IsZero() }

// OpenOutage starts an outage unless one is already open for the service,
// and returns the open outage's id.
func (tx *Tx) OpenOutage(ctx context.Context, account, service, cause string) (int64, error) {
	var id int64
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO outages (account, service, started_at, cause) VALUES (?, ?, ?, ?)
		ON CONFLICT (account, service) WHERE ended_at IS NULL DO UPDATE SET cause = cause
		RETURNING id`, account, service, tx.now, cause).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("open %s/%s outage: %w", account, service, err)
	}
	return id, nil
}

// CloseOutage ends the open outage of a service, if any, recording how many
// actions were queued during it and replayed after it.
func (tx *Tx) CloseOutage(ctx context.Context, account, service string, queued, replayed int) error {
	_, err := tx.exec(ctx, `UPDATE outages SET ended_at = ?, queued = ?, replayed = ? WHERE account = ? AND service = ? AND ended_at IS NULL`,
		tx.now, queued, replayed, account, service)
	if err != nil {
		return fmt.Errorf("close %s/%s outage: %w", account, service, err)
	}
	return nil
}

// Outages lists outages, newest first; limit 0 means all.
func (db *DB) Outages(ctx context.Context, limit int) ([]Outage, error) {
	q := `SELECT id, account, service, started_at, ended_at, cause, queued, replayed FROM outages ORDER BY started_at DESC, id DESC`
	var args []any
	if limit > 0 {
		q += ` LIMIT ?`
		args = append(args, limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list outages: %w", err)
	}
	defer rows.Close()
	var out []Outage
	for rows.Next() {
		var o Outage
		var started int64
		var ended sql.NullInt64
		var cause sql.NullString
		if err := rows.Scan(&o.ID, &o.Account, &o.Service, &started, &ended, &cause, &o.Queued, &o.Replayed); err != nil {
			return nil, err
		}
		o.StartedAt = time.UnixMilli(started).UTC()
		o.EndedAt = fromMillis(ended)
		o.Cause = nullString(cause)
		out = append(out, o)
	}
	return out, rows.Err()
}

// OpenConflicts counts unresolved conflicts per account.
func (db *DB) OpenConflicts(ctx context.Context) (map[string]int, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account, count(*) FROM conflicts WHERE resolved_at IS NULL GROUP BY account`)
	if err != nil {
		return nil, fmt.Errorf("count conflicts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var a string
		var n int
		if err := rows.Scan(&a, &n); err != nil {
			return nil, err
		}
		out[a] = n
	}
	return out, rows.Err()
}

// OpenOutageSince returns when the open outage of a service started.
func (tx *Tx) OpenOutageSince(ctx context.Context, account, service string) (time.Time, bool, error) {
	var started int64
	err := tx.tx.QueryRowContext(ctx, `SELECT started_at FROM outages WHERE account = ? AND service = ? AND ended_at IS NULL`, account, service).Scan(&started)
	if err == sql.ErrNoRows {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("open outage of %s/%s: %w", account, service, err)
	}
	return time.UnixMilli(started).UTC(), true, nil
}

// CountOutageQueue counts, when an outage that began at since ends, the
// actions of kinds that waited for it: still unfinished, or attempted
// during it (queued), and those of them already done (replayed).
func (tx *Tx) CountOutageQueue(ctx context.Context, account string, kinds []string, since time.Time) (queued, replayed int, err error) {
	return countOutageQueue(ctx, tx.tx, account, kinds, since)
}

// OutageQueueSoFar counts, for an outage still open that began at since,
// what CountOutageQueue will count at its end if nothing changes: the
// actions of kinds waiting for it so far (the stored counts of an open
// outage are zero until it ends).
func (db *DB) OutageQueueSoFar(ctx context.Context, account string, kinds []string, since time.Time) (queued, replayed int, err error) {
	return countOutageQueue(ctx, db.r, account, kinds, since)
}

func countOutageQueue(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}, account string, kinds []string, since time.Time) (queued, replayed int, err error) {
	if len(kinds) == 0 {
		return 0, 0, nil
	}
	ph, kargs := kindArgs(kinds)
	args := append([]any{since.UnixMilli(), account}, kargs...)
	err = q.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(state = 'done'), 0) FROM outbox
		WHERE account = ?2 AND kind IN (`+ph+`) AND state != 'cancelled'
		  AND (state IN ('pending', 'inflight', 'failed') OR updated_at >= ?1)`, args...).Scan(&queued, &replayed)
	if err != nil {
		return 0, 0, fmt.Errorf("count outage actions: %w", err)
	}
	return queued, replayed, nil
}

// CountOutageReplay counts one more replayed action, queued at
// createdAt, against the service's last ended outage, while some of its
// queue is still unreplayed.
func (tx *Tx) CountOutageReplay(ctx context.Context, account, service string, createdAt time.Time) error {
	_, err := tx.exec(ctx, `UPDATE outages SET replayed = replayed + 1
		WHERE id = (SELECT id FROM outages WHERE account = ?1 AND service = ?2 AND ended_at IS NOT NULL ORDER BY ended_at DESC, id DESC LIMIT 1)
		  AND replayed < queued AND ?3 <= ended_at`,
		account, service, createdAt.UnixMilli())
	if err != nil {
		return fmt.Errorf("count replay for %s/%s: %w", account, service, err)
	}
	return nil
}

// LastOutageEnd returns when the last ended outage of a service ended
// (zero when none has).
func (db *DB) LastOutageEnd(ctx context.Context, account, service string) (time.Time, error) {
	var ended sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT max(ended_at) FROM outages WHERE account = ? AND service = ?`, account, service).Scan(&ended)
	if err != nil {
		return time.Time{}, fmt.Errorf("last outage of %s/%s: %w", account, service, err)
	}
	return fromMillis(ended), nil
}
