package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The worker's side of the outbox. The rules enforced here (see package
// sync/outbox for the whole state machine):
//   - a row is runnable when it is pending, or failed and due, and no
//     earlier row on its target_key (or target_key2, either way) is unfinished (pending, inflight,
//     failed or conflict): one action in flight per key, in creation
//     order, and a conflict blocks the key until it is resolved;
//   - claiming a row marks it inflight and counts the attempt in the same
//     transaction, so a crash leaves visible evidence (an inflight row)
//     that recovery must look at before trying again.

// blocking is true of an earlier action p that a later one on a shared key
// must wait for. Each key is matched in its own NOT EXISTS so that every
// test walks an index (outbox_target, outbox_target2).
const blocking = `(p.state IN ('pending', 'inflight', 'failed')
	OR (p.state = 'conflict' AND EXISTS (SELECT 1 FROM conflicts c WHERE c.outbox_id = p.id AND c.resolved_at IS NULL)))`

func kindArgs(kinds []string) (string, []any) {
	args := make([]any, len(kinds))
	for i, k := range kinds {
		args[i] = k
	}
	return placeholders(len(kinds)), args
}

// ClaimOutbox marks the next runnable action of an account (among kinds)
// inflight and returns it; ok is false when nothing is runnable now. An
// action waits for the earlier unfinished ones on its key, and for an
// earlier conflict that waits for a person (an open row in conflicts); a
// conflict the provider settled (a message moved or deleted there first)
// blocks nothing.
func (db *DB) ClaimOutbox(ctx context.Context, account string, kinds []string) (row OutboxRow, ok bool, err error) {
	ph, kargs := kindArgs(kinds)
	err = db.Write(ctx, func(tx *Tx) error {
		args := append([]any{account}, kargs...)
		args = append(args, tx.now)
		r, err := scanOutbox(tx.tx.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox o
			WHERE o.account = ? AND o.kind IN (`+ph+`) AND o.state IN ('pending', 'failed')
			  AND (o.state = 'pending' OR o.next_attempt_at <= ?)
			  AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.account = o.account AND p.target_key = o.target_key AND p.id < o.id AND `+blocking+`)
			  AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.account = o.account AND p.target_key2 = o.target_key AND p.id < o.id AND `+blocking+`)
			  AND (o.target_key2 IS NULL OR (
			      NOT EXISTS (SELECT 1 FROM outbox p WHERE p.account = o.account AND p.target_key = o.target_key2 AND p.id < o.id AND `+blocking+`)
			      AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.account = o.account AND p.target_key2 = o.target_key2 AND p.id < o.id AND `+blocking+`)))
			ORDER BY o.id LIMIT 1`, args...))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim outbox action: %w", err)
		}
		if _, err := tx.exec(ctx, `UPDATE outbox SET state = 'inflight', attempts = attempts + 1, updated_at = ? WHERE id = ?`, tx.now, r.ID); err != nil {
			return fmt.Errorf("claim outbox action %d: %w", r.ID, err)
		}
		r.State, r.Attempts, r.UpdatedAt = OutboxInflight, r.Attempts+1, time.UnixMilli(tx.now).UTC()
		row, ok = r, true
		return nil
	})
	return row, ok, err
}

// NextOutboxAttempt returns when the earliest failed action of an account
// (among kinds) is due; ok is false when none waits.
func (db *DB) NextOutboxAttempt(ctx context.Context, account string, kinds []string) (time.Time, bool, error) {
	ph, kargs := kindArgs(kinds)
	var at sql.NullInt64
	err := db.r.QueryRowContext(ctx, `SELECT min(next_attempt_at) FROM outbox WHERE account = ? AND kind IN (`+ph+`) AND state = 'failed'`,
		append([]any{account}, kargs...)...).Scan(&at)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next outbox attempt: %w", err)
	}
	return fromMillis(at), at.Valid, nil
}

// InflightOutbox lists an account's inflight actions among kinds: after a
// restart, the ones a crash interrupted.
func (db *DB) InflightOutbox(ctx context.Context, account string, kinds []string) ([]OutboxRow, error) {
	ph, kargs := kindArgs(kinds)
	rows, err := db.r.QueryContext(ctx, `SELECT `+outboxColumns+` FROM outbox WHERE account = ? AND kind IN (`+ph+`) AND state = 'inflight' ORDER BY id`,
		append([]any{account}, kargs...)...)
	if err != nil {
		return nil, fmt.Errorf("inflight outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		r, err := scanOutbox(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// FinishOutbox records the outcome of an attempt: done, failed (due again
// at next), conflict or dead; lastErr is kept for the user.
func (tx *Tx) FinishOutbox(ctx context.Context, id int64, state OutboxState, lastErr string, next time.Time) error {
	var errArg, nextArg any
	if lastErr != "" {
		errArg = lastErr
	}
	if state == OutboxFailed {
		nextArg = next.UnixMilli()
	}
	_, err := tx.exec(ctx, `UPDATE outbox SET state = ?, last_error = coalesce(?, last_error), next_attempt_at = ?, updated_at = ? WHERE id = ?`,
		string(state), errArg, nextArg, tx.now, id)
	if err != nil {
		return fmt.Errorf("finish outbox action %d: %w", id, err)
	}
	return nil
}

// SetOutboxPayload replaces an action's payload (coalescing, or a UID
// learned on replay).
func (tx *Tx) SetOutboxPayload(ctx context.Context, id int64, payload []byte) error {
	if _, err := tx.exec(ctx, `UPDATE outbox SET payload = ?, updated_at = ? WHERE id = ?`, payload, tx.now, id); err != nil {
		return fmt.Errorf("update outbox action %d: %w", id, err)
	}
	return nil
}

// LastOpenOutbox returns the newest unfinished action on a target key, if
// it is still pending (not yet claimed): the one a new action on the same
// key may coalesce into.
func (tx *Tx) LastOpenOutbox(ctx context.Context, account, targetKey string) (OutboxRow, bool, error) {
	r, err := scanOutbox(tx.tx.QueryRowContext(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE account = ? AND target_key = ? AND state IN ('pending', 'inflight', 'failed', 'conflict')
		ORDER BY id DESC LIMIT 1`, account, targetKey))
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("last outbox action on %s: %w", targetKey, err)
	}
	return r, r.State == OutboxPending, nil
}

// OutboxDoneOnKey reports whether an action on the key finished as done.
func (tx *Tx) OutboxDoneOnKey(ctx context.Context, account, targetKey string) (bool, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE account = ? AND target_key = ? AND state = 'done'`, account, targetKey).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("outbox history of %s: %w", targetKey, err)
	}
	return n > 0, nil
}

// PendingActionUIDs returns the server UIDs, in a folder, of messages
// with an unfinished local action of one of kinds. A sync pass must not
// overwrite their flags (a queued flag change wins until replayed) nor
// drop them when the server no longer lists them (a move whose replay
// reached the server but whose outcome is not recorded yet). An action in
// conflict protects nothing: it could not be applied because the server
// changed the message, and the server's state is what the mirror shows.
func (db *DB) PendingActionUIDs(ctx context.Context, folderID int64, kinds []string) (map[uint32]bool, error) {
	ph, kargs := kindArgs(kinds)
	rows, err := db.r.QueryContext(ctx, `SELECT m.remote_uid FROM mail_messages m
		JOIN outbox o ON o.target_key = 'mail:' || m.id AND o.kind IN (`+ph+`) AND o.state IN ('pending', 'inflight', 'failed')
		WHERE m.remote_folder_id = ?`, append(kargs, folderID)...)
	if err != nil {
		return nil, fmt.Errorf("pending actions: %w", err)
	}
	defer rows.Close()
	out := map[uint32]bool{}
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out[u] = true
	}
	return out, rows.Err()
}

// SetOutboxPhase durably records the step an inflight action reached
// (for a send: "committing", just before the final dot), so that after a
// crash the next attempt knows whether the provider may already have it.
func (db *DB) SetOutboxPhase(ctx context.Context, id int64, phase string) error {
	return db.Write(ctx, func(tx *Tx) error {
		if _, err := tx.exec(ctx, `UPDATE outbox SET phase = ?, updated_at = ? WHERE id = ?`, phase, tx.now, id); err != nil {
			return fmt.Errorf("record phase of outbox action %d: %w", id, err)
		}
		return nil
	})
}

// RequeueOutbox makes an action pending again, due now, in a transaction
// that changes what it will send (a conflict resolved for the local side).
func (tx *Tx) RequeueOutbox(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `UPDATE outbox SET state = 'pending', attempts = 0, phase = '', next_attempt_at = ?1, updated_at = ?1 WHERE id = ?2`, tx.now, id); err != nil {
		return fmt.Errorf("requeue outbox action %d: %w", id, err)
	}
	return nil
}

// ExpediteFailed makes an account's failed actions of kinds due now: the
// provider just answered (a sync pass succeeded), so waiting out their
// backoff would only leave the queue stalled after a short outage. It
// returns how many were brought forward.
func (db *DB) ExpediteFailed(ctx context.Context, account string, kinds []string) (int64, error) {
	if len(kinds) == 0 {
		return 0, nil
	}
	var n int64
	err := db.Write(ctx, func(tx *Tx) error {
		ph, kargs := kindArgs(kinds)
		args := append([]any{tx.now, account}, kargs...)
		res, err := tx.exec(ctx, `UPDATE outbox SET next_attempt_at = ?1 WHERE account = ?2 AND state = 'failed' AND next_attempt_at > ?1 AND kind IN (`+ph+`)`, args...)
		if err != nil {
			return fmt.Errorf("expedite failed actions: %w", err)
		}
		n, err = res.RowsAffected()
		return err
	})
	return n, err
}

// CancelLaterOnKey cancels the not yet attempted actions queued on a key
// after action id (they are about a thing that no longer is where they
// assume), with reason as their last error, and returns how many.
func (tx *Tx) CancelLaterOnKey(ctx context.Context, account, targetKey string, id int64, reason string) (int64, error) {
	res, err := tx.exec(ctx, `UPDATE outbox SET state = 'cancelled', last_error = ?, next_attempt_at = NULL, updated_at = ?
		WHERE account = ? AND target_key = ? AND id > ? AND state IN ('pending', 'failed')`, reason, tx.now, account, targetKey, id)
	if err != nil {
		return 0, fmt.Errorf("cancel actions after %d: %w", id, err)
	}
	return res.RowsAffected()
}
