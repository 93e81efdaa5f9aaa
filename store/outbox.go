package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// OutboxState is the state of an outbox row. The state machine itself is
// enforced by package sync's outbox worker; the store only refuses the
// transitions a user may not ask for (see Retry and Cancel).
type OutboxState string

// The outbox states of ARCHITECTURE.md.
const (
	OutboxPending   OutboxState = "pending"
	OutboxInflight  OutboxState = "inflight"
	OutboxDone      OutboxState = "done"
	OutboxFailed    OutboxState = "failed"
	OutboxConflict  OutboxState = "conflict"
	OutboxDead      OutboxState = "dead"
	OutboxCancelled OutboxState = "cancelled"
)

// OutboxStates lists every state in lifecycle order.
var OutboxStates = []OutboxState{OutboxPending, OutboxInflight, OutboxFailed, OutboxConflict, OutboxDead, OutboxDone, OutboxCancelled}

// Valid reports whether s is a known state.
func (s OutboxState) Valid() bool {
	for _, k := range OutboxStates {
		if s == k {
			return true
		}
	}
	return false
}

// ErrNotFound reports a row that does not exist.
var ErrNotFound = errors.New("not found")

// ErrState reports a user request that the row's current state forbids.
var ErrState = errors.New("not allowed in this state")

// OutboxAction is a new outbound action, before it has an id.
type OutboxAction struct {
	Account   string
	Kind      string // mail.send, mail.flags, … (the schema CHECK lists them)
	TargetKey string // actions on one key run one at a time, in order
	// TargetKey2 is a second key the action touches ("" for none): a
	// file move waits for the actions on its source as well.
	TargetKey2  string
	Payload     []byte
	BaseVersion string // ETag, MODSEQ… the change was based on; "" for none
	BodyID      int64  // a stored message body the action sends or appends; 0 for none
}

// OutboxRow is one stored action.
type OutboxRow struct {
	ID int64
	OutboxAction
	State         OutboxState
	Phase         string // see SetOutboxPhase
	Attempts      int
	NextAttemptAt time.Time // zero when not scheduled
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// EnqueueOutbox adds an action as pending, in the same transaction as the
// local change it belongs to, and returns its id.
func (tx *Tx) EnqueueOutbox(ctx context.Context, a OutboxAction) (int64, error) {
	var base any
	if a.BaseVersion != "" {
		base = a.BaseVersion
	}
	payload := a.Payload
	if payload == nil {
		payload = []byte{}
	}
	var body, key2 any
	if a.BodyID != 0 {
		body = a.BodyID
	}
	if a.TargetKey2 != "" {
		key2 = a.TargetKey2
	}
	res, err := tx.exec(ctx, `INSERT INTO outbox (account, kind, target_key, target_key2, payload, base_version, body_id, state, next_attempt_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
		a.Account, a.Kind, a.TargetKey, key2, payload, base, body, tx.now, tx.now, tx.now)
	if err != nil {
		return 0, fmt.Errorf("enqueue %s for %s: %w", a.Kind, a.Account, err)
	}
	return res.LastInsertId()
}

// OutboxFilter selects rows for ListOutbox. Zero fields select everything.
type OutboxFilter struct {
	Account string
	State   OutboxState
	Limit   int
}

const outboxColumns = `id, account, kind, target_key, coalesce(target_key2, ''), payload, base_version, body_id, state, phase, attempts, next_attempt_at, last_error, created_at, updated_at`

// ListOutbox returns rows in creation order.
func (db *DB) ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxRow, error) {
	q := `SELECT ` + outboxColumns + ` FROM outbox WHERE 1=1`
	var args []any
	if f.Account != "" {
		q += ` AND account = ?`
		args = append(args, f.Account)
	}
	if f.State != "" {
		q += ` AND state = ?`
		args = append(args, string(f.State))
	}
	q += ` ORDER BY id`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			return nil, fmt.Errorf("list outbox: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// OutboxRow returns one row by id, or ErrNotFound.
func (db *DB) OutboxRow(ctx context.Context, id int64) (OutboxRow, error) {
	r, err := scanOutbox(db.r.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return r, fmt.Errorf("outbox action %d: %w", id, ErrNotFound)
	}
	return r, err
}

type scanner interface{ Scan(...any) error }

func scanOutbox(s scanner) (OutboxRow, error) {
	var r OutboxRow
	var base, lastErr sql.NullString
	var next, body sql.NullInt64
	var created, updated int64
	var state string
	err := s.Scan(&r.ID, &r.Account, &r.Kind, &r.TargetKey, &r.TargetKey2, &r.Payload, &base, &body, &state, &r.Phase, &r.Attempts, &next, &lastErr, &created, &updated)
	if err != nil {
		return r, err
	}
	r.BodyID = body.Int64
	r.BaseVersion = nullString(base)
	r.State = OutboxState(state)
	r.NextAttemptAt = fromMillis(next)
	r.LastError = nullString(lastErr)
	r.CreatedAt = time.UnixMilli(created).UTC()
	r.UpdatedAt = time.UnixMilli(updated).UTC()
	return r, nil
}

// OutboxCounts returns how many rows each account has in each state.
func (db *DB) OutboxCounts(ctx context.Context) (map[string]map[OutboxState]int, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account, state, count(*) FROM outbox GROUP BY account, state`)
	if err != nil {
		return nil, fmt.Errorf("count outbox: %w", err)
	}
	defer rows.Close()
	out := map[string]map[OutboxState]int{}
	for rows.Next() {
		var acct, state string
		var n int
		if err := rows.Scan(&acct, &state, &n); err != nil {
			return nil, err
		}
		if out[acct] == nil {
			out[acct] = map[OutboxState]int{}
		}
		out[acct][OutboxState(state)] = n
	}
	return out, rows.Err()
}

// retryable are the states a user may send back to pending. An inflight
// row belongs to the worker; done and cancelled rows are history.
var retryable = []any{string(OutboxFailed), string(OutboxConflict), string(OutboxDead)}

// RetryOutbox makes a failed, conflicting or dead action pending again,
// due now, with its attempt count and phase reset: the user has decided,
// so a send that may have gone already is sent again.
func (db *DB) RetryOutbox(ctx context.Context, id int64) error {
	return db.transitionOne(ctx, id, "retry", "local", retryable,
		`UPDATE outbox SET state = 'pending', attempts = 0, phase = '', next_attempt_at = ?1, updated_at = ?1 WHERE id = ?2 AND state IN (`+placeholders(len(retryable))+`)`)
}

// RetryAllDead makes every dead action pending again and returns how many.
func (db *DB) RetryAllDead(ctx context.Context) (int64, error) {
	var n int64
	err := db.Write(ctx, func(tx *Tx) error {
		res, err := tx.exec(ctx, `UPDATE outbox SET state = 'pending', attempts = 0, phase = '', next_attempt_at = ?1, updated_at = ?1 WHERE state = 'dead'`, tx.now)
		if err != nil {
			return fmt.Errorf("retry dead actions: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// cancellable are the states a user may cancel: anything not yet handed
// to the provider and not finished.
var cancellable = []any{string(OutboxPending), string(OutboxFailed), string(OutboxConflict), string(OutboxDead)}

// CancelOutbox cancels an action that is not inflight or finished. The row
// and its payload are kept.
func (db *DB) CancelOutbox(ctx context.Context, id int64) error {
	return db.transitionOne(ctx, id, "cancel", "remote", cancellable,
		`UPDATE outbox SET state = 'cancelled', next_attempt_at = NULL, updated_at = ?1 WHERE id = ?2 AND state IN (`+placeholders(len(cancellable))+`)`)
}

// transitionOne runs a guarded single-row update and explains a refusal.
// An open conflict of the action is resolved with it (retrying takes the
// local side, cancelling the remote one).
func (db *DB) transitionOne(ctx context.Context, id int64, verb, resolution string, allowed []any, query string) error {
	return db.Write(ctx, func(tx *Tx) error {
		args := append([]any{tx.now, id}, allowed...)
		res, err := tx.exec(ctx, query, args...)
		if err != nil {
			return fmt.Errorf("%s outbox action %d: %w", verb, id, err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			_, err := tx.exec(ctx, `UPDATE conflicts SET resolution = ?, resolved_at = ? WHERE outbox_id = ? AND resolved_at IS NULL`, resolution, tx.now, id)
			return err
		}
		var state string
		err = tx.tx.QueryRowContext(ctx, `SELECT state FROM outbox WHERE id = ?`, id).Scan(&state)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%s outbox action %d: %w", verb, id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("%s outbox action %d: %w", verb, id, err)
		}
		return fmt.Errorf("%s outbox action %d: it is %s: %w", verb, id, state, ErrState)
	})
}

// OutboxKindCount is how many actions of a kind an account has in a state.
type OutboxKindCount struct {
	Account string
	Kind    string
	State   OutboxState
	N       int
}

// OutboxCountsByKind counts the rows by account, kind and state (for
// metrics per service).
func (db *DB) OutboxCountsByKind(ctx context.Context) ([]OutboxKindCount, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account, kind, state, count(*) FROM outbox GROUP BY account, kind, state`)
	if err != nil {
		return nil, fmt.Errorf("count outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxKindCount
	for rows.Next() {
		var c OutboxKindCount
		var state string
		if err := rows.Scan(&c.Account, &c.Kind, &state, &c.N); err != nil {
			return nil, err
		}
		c.State = OutboxState(state)
		out = append(out, c)
	}
	return out, rows.Err()
}

// OldestWaiting returns, per account and kind, when the oldest action
// still to replay (pending, inflight or failed) was queued.
func (db *DB) OldestWaiting(ctx context.Context) ([]OutboxKindOldest, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account, kind, min(created_at) FROM outbox WHERE state IN ('pending', 'inflight', 'failed') GROUP BY account, kind`)
	if err != nil {
		return nil, fmt.Errorf("oldest outbox actions: %w", err)
	}
	defer rows.Close()
	var out []OutboxKindOldest
	for rows.Next() {
		var o OutboxKindOldest
		var created int64
		if err := rows.Scan(&o.Account, &o.Kind, &created); err != nil {
			return nil, err
		}
		o.CreatedAt = time.UnixMilli(created).UTC()
		out = append(out, o)
	}
	return out, rows.Err()
}

// OutboxKindOldest is when the oldest waiting action of a kind was queued.
type OutboxKindOldest struct {
	Account   string
	Kind      string
	CreatedAt time.Time
}
