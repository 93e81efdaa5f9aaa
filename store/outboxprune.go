package store

import (
	"context"
	"fmt"
	"time"
)

// Outbox retention. Done and cancelled actions are history: once older
// than the retention (outbox.keep_done) they are deleted with their
// payloads and with the message bodies nothing else refers to.
//
// Rules (each enforced by prunableWhere):
//   - Only done and cancelled rows are pruned, by updated_at (when they
//     finished), never an action that may still run.
//   - A row a conflict refers to is kept: the conflict shows its action,
//     and deleting it would unlink the two (outbox_id ON DELETE SET NULL).
//   - A row an open outage counts is kept: an open outage's counts are
//     computed from the outbox until it ends (CountOutageQueue), when they
//     are frozen onto its row; a closed outage never reads the outbox
//     again, so `holdover outages` shows the same counts after pruning.
//   - A body is deleted only when no message and no remaining action
//     refers to it (a sent message whose Sent copy was mirrored shares its
//     body with that message).
//   - Each batch is one short write transaction of at most PruneBatch rows
//     and about pruneBatchBytes of bodies, so a writer waiting for the
//     connection (a local change being acknowledged) waits one batch at
//     most, never the whole pruning.
//   - What was pruned is added to outbox_pruned, so counters derived from
//     the outbox (replayed actions) never go backwards.

// PruneBatch is how many rows one pruning transaction deletes at most.
const PruneBatch = 200

// pruneBatchBytes bounds the body bytes one transaction frees: deleting
// a 50 MB attachment's chunks costs page writes, so a batch of large
// sends is cut short (it always takes at least one row).
const pruneBatchBytes = 16 << 20

// prunableWhere selects, in outbox o, the rows retention may delete;
// ?1 is the cutoff in Unix milliseconds. The state test is the partial
// index outbox_finished's own, so the index is used.
const prunableWhere = `o.state IN ('done', 'cancelled') AND o.updated_at < ?1
	AND NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.outbox_id = o.id)
	AND NOT EXISTS (SELECT 1 FROM outages g WHERE g.account = o.account AND g.ended_at IS NULL AND o.updated_at >= g.started_at)`

// OutboxPrunable is what retention would delete now, or did delete.
type OutboxPrunable struct {
	Rows  int   `json:"rows"`
	Bytes int64 `json:"bytes"` // payloads plus the bodies freed with them
}

// pruneCutoff is the updated_at before which finished rows are pruned,
// or false when keep (0: keep forever) prunes nothing.
func (db *DB) pruneCutoff(keep time.Duration) (int64, bool) {
	if keep <= 0 {
		return 0, false
	}
	return db.clock.Now().Add(-keep).UnixMilli(), true
}

// PrunableOutbox reports what PruneOutbox(keep) would delete now (for
// `holdover db check`).
func (db *DB) PrunableOutbox(ctx context.Context, keep time.Duration) (OutboxPrunable, error) {
	var p OutboxPrunable
	cutoff, ok := db.pruneCutoff(keep)
	if !ok {
		return p, nil
	}
	var bodies int64
	err := db.r.QueryRowContext(ctx, `WITH p AS (SELECT o.id, o.body_id, length(o.payload) AS n FROM outbox o WHERE `+prunableWhere+`)
		SELECT (SELECT count(*) FROM p), (SELECT coalesce(sum(n), 0) FROM p),
		       (SELECT coalesce(sum(b.size), 0) FROM mail_bodies b WHERE b.id IN (SELECT body_id FROM p)
		          AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.body_id = b.id)
		          AND NOT EXISTS (SELECT 1 FROM outbox o2 WHERE o2.body_id = b.id AND o2.id NOT IN (SELECT id FROM p)))`,
		cutoff).Scan(&p.Rows, &p.Bytes, &bodies)
	if err != nil {
		return p, fmt.Errorf("prunable outbox rows: %w", err)
	}
	p.Bytes += bodies
	return p, nil
}

// PruneOutbox deletes the finished actions older than keep (0: none)
// with their freed bodies, one short transaction per batch, until none
// is left or ctx ends; it returns what it deleted.
func (db *DB) PruneOutbox(ctx context.Context, keep time.Duration) (OutboxPrunable, error) {
	var total OutboxPrunable
	cutoff, ok := db.pruneCutoff(keep)
	if !ok {
		return total, nil
	}
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		var got OutboxPrunable
		err := db.Write(ctx, func(tx *Tx) error {
			var err error
			got, err = tx.pruneOutboxBatch(ctx, cutoff)
			return err
		})
		total.Rows += got.Rows
		total.Bytes += got.Bytes
		if err != nil {
			return total, fmt.Errorf("prune outbox: %w", err)
		}
		if got.Rows == 0 {
			return total, nil
		}
	}
}

type prunedRow struct {
	id, bodyID   int64
	account      string
	kind, state  string
	payload, raw int64 // payload bytes; the body's size (0 without one)
}

// pruneOutboxBatch deletes one batch of prunable rows (oldest first).
func (tx *Tx) pruneOutboxBatch(ctx context.Context, cutoff int64) (OutboxPrunable, error) {
	var done OutboxPrunable
	rows, err := tx.tx.QueryContext(ctx, `SELECT o.id, o.account, o.kind, o.state, coalesce(o.body_id, 0), length(o.payload), coalesce(b.size, 0)
		FROM outbox o LEFT JOIN mail_bodies b ON b.id = o.body_id
		WHERE `+prunableWhere+` ORDER BY o.updated_at, o.id LIMIT ?2`, cutoff, PruneBatch)
	if err != nil {
		return done, err
	}
	var batch []prunedRow
	var bodyBytes int64
	for rows.Next() {
		var r prunedRow
		if err := rows.Scan(&r.id, &r.account, &r.kind, &r.state, &r.bodyID, &r.payload, &r.raw); err != nil {
			rows.Close()
			return done, err
		}
		if len(batch) > 0 && bodyBytes+r.raw > pruneBatchBytes {
			break
		}
		bodyBytes += r.raw
		batch = append(batch, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return done, err
	}
	type tally struct{ rows, bytes int64 }
	tallies := map[[3]string]*tally{}
	for _, r := range batch {
		if _, err := tx.exec(ctx, `DELETE FROM outbox WHERE id = ?`, r.id); err != nil {
			return done, err
		}
		k := [3]string{r.account, r.kind, r.state}
		if tallies[k] == nil {
			tallies[k] = &tally{}
		}
		tallies[k].rows++
		tallies[k].bytes += r.payload
		done.Rows++
		done.Bytes += r.payload
	}
	// Bodies go after the rows, so two pruned sends sharing one body
	// free it once, and only when nothing left refers to it.
	for _, r := range batch {
		if r.bodyID == 0 {
			continue
		}
		freed, err := tx.deleteBodyIfUnused(ctx, r.bodyID)
		if err != nil {
			return done, err
		}
		if freed {
			tallies[[3]string{r.account, r.kind, r.state}].bytes += r.raw
			done.Bytes += r.raw
		}
	}
	for k, t := range tallies {
		_, err := tx.exec(ctx, `INSERT INTO outbox_pruned (account, kind, state, rows, bytes) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (account, kind, state) DO UPDATE SET rows = rows + excluded.rows, bytes = bytes + excluded.bytes`,
			k[0], k[1], k[2], t.rows, t.bytes)
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// deleteBodyIfUnused deletes a stored body (its chunks cascade, its index
// row goes too) when no message and no action refers to it.
func (tx *Tx) deleteBodyIfUnused(ctx context.Context, bodyID int64) (bool, error) {
	const unused = `SELECT b.id FROM mail_bodies b WHERE b.id = ?
		AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.body_id = b.id)
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.body_id = b.id)`
	if _, err := tx.exec(ctx, `DELETE FROM mail_fts WHERE rowid IN (`+unused+`)`, bodyID); err != nil {
		return false, err
	}
	res, err := tx.exec(ctx, `DELETE FROM mail_bodies WHERE id IN (`+unused+`)`, bodyID)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n > 0, err
}

// OutboxPrunedCount is how many finished actions of a kind retention
// deleted for an account.
type OutboxPrunedCount struct {
	Account string
	Kind    string
	State   OutboxState
	Rows    int64
	Bytes   int64
}

// OutboxPrunedCounts returns what retention has deleted so far.
func (db *DB) OutboxPrunedCounts(ctx context.Context) ([]OutboxPrunedCount, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT account, kind, state, rows, bytes FROM outbox_pruned ORDER BY account, kind, state`)
	if err != nil {
		return nil, fmt.Errorf("pruned outbox counts: %w", err)
	}
	defer rows.Close()
	var out []OutboxPrunedCount
	for rows.Next() {
		var c OutboxPrunedCount
		var state string
		if err := rows.Scan(&c.Account, &c.Kind, &state, &c.Rows, &c.Bytes); err != nil {
			return nil, err
		}
		c.State = OutboxState(state)
		out = append(out, c)
	}
	return out, rows.Err()
}
