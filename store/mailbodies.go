package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"hash"
	"io"
)

// BodyChunkSize is the size of the pieces a body is stored in: big enough
// that a typical message is one row, small enough that a 50 MB attachment
// never needs more than one chunk in memory.
const BodyChunkSize = 256 << 10

// ErrSizeMismatch reports a body whose length differs from what the
// server announced: it is not stored, and the sync retries it.
var ErrSizeMismatch = errors.New("body size differs from the announced size")

// FindMailBody returns the id of a stored body with this Message-ID and
// size, the identity a moved or copied message keeps. msgID "" never
// matches: without a Message-ID two messages cannot be told apart.
func (db *DB) FindMailBody(ctx context.Context, account, msgID string, size int64) (int64, bool, error) {
	if msgID == "" {
		return 0, false, nil
	}
	var id int64
	// "message_id != ''" lets SQLite use the partial index (it cannot infer
	// it from "= ?"); without it every lookup scanned all bodies, which made
	// an initial sync quadratic (found by bench/mail.sh).
	err := db.r.QueryRowContext(ctx, `SELECT id FROM mail_bodies WHERE account = ? AND message_id = ? AND message_id != '' AND size = ? ORDER BY id LIMIT 1`,
		account, msgID, size).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("find body %s: %w", msgID, err)
	}
	return id, true, nil
}

// InsertMailBody stores exactly size bytes read from r as a new body, in
// chunks, and returns its id. A short or long read is ErrSizeMismatch and
// stores nothing (the caller's transaction is rolled back).
func (tx *Tx) InsertMailBody(ctx context.Context, account, msgID string, size int64, r io.Reader) (int64, error) {
	return tx.insertMailBody(ctx, account, msgID, size, nil, r)
}

// InsertMailBodySum is InsertMailBody for a caller that already hashed
// the bytes (SHA-256) outside the transaction: the mail engine does, so
// the writer spends no time on it. The sum is trusted; the size is still
// checked.
func (tx *Tx) InsertMailBodySum(ctx context.Context, account, msgID string, size int64, sum []byte, r io.Reader) (int64, error) {
	if len(sum) != sha256.Size {
		return 0, fmt.Errorf("store body %s: a SHA-256 sum has %d bytes, not %d", msgID, sha256.Size, len(sum))
	}
	return tx.insertMailBody(ctx, account, msgID, size, sum, r)
}

func (tx *Tx) insertMailBody(ctx context.Context, account, msgID string, size int64, sum []byte, r io.Reader) (int64, error) {
	stored := sum
	if stored == nil {
		stored = []byte{} // set below, once the bytes are read
	}
	res, err := tx.execHot(ctx, `INSERT INTO mail_bodies (account, message_id, size, sha256, created_at) VALUES (?, ?, ?, ?, ?)`,
		account, msgID, size, stored, tx.now)
	if err != nil {
		return 0, fmt.Errorf("store body: %w", err)
	}
	id, _ := res.LastInsertId()
	var h hash.Hash
	if sum == nil {
		h = sha256.New()
	}
	// Most messages fit in one small chunk: size the buffer to the body.
	buf := make([]byte, min(max(size, 0)+1, BodyChunkSize))
	var total int64
	for seq := 0; ; seq++ {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if h != nil {
				h.Write(buf[:n])
			}
			total += int64(n)
			if _, err := tx.execHot(ctx, `INSERT INTO mail_body_chunks (body_id, seq, data) VALUES (?, ?, ?)`, id, seq, buf[:n]); err != nil {
				return 0, fmt.Errorf("store body chunk: %w", err)
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("store body: read: %w", err)
		}
	}
	if total != size {
		return 0, fmt.Errorf("store body %s: %w (announced %d, got %d)", msgID, ErrSizeMismatch, size, total)
	}
	if h == nil {
		return id, nil
	}
	if _, err := tx.exec(ctx, `UPDATE mail_bodies SET sha256 = ? WHERE id = ?`, h.Sum(nil), id); err != nil {
		return 0, fmt.Errorf("store body: %w", err)
	}
	return id, nil
}

// IndexMailBody adds a body to the full-text index. A writer storing many
// messages in one transaction should add their index rows after its
// other statements, one after another: FTS5 writes its pending terms out
// as a new segment at every statement savepoint, and an UPSERT (such as
// InsertMailMessage) opens one, so interleaving them makes one tiny
// segment per message and most of the writer's time goes into merging
// them (BenchmarkMailCommit: 290 against 125 µs per message).
func (tx *Tx) IndexMailBody(ctx context.Context, bodyID int64, subject, from, to, text string) error {
	_, err := tx.execHot(ctx, `INSERT INTO mail_fts (rowid, subject, from_addr, to_addr, body) VALUES (?, ?, ?, ?, ?)`,
		bodyID, subject, from, to, text)
	if err != nil {
		return fmt.Errorf("index body %d: %w", bodyID, err)
	}
	return nil
}

// GCMailBodies deletes the account's bodies that no message references,
// with their chunks and index rows, and returns how many.
func (tx *Tx) GCMailBodies(ctx context.Context, account string) (int64, error) {
	const orphans = `SELECT b.id FROM mail_bodies b WHERE b.account = ?
		AND NOT EXISTS (SELECT 1 FROM mail_messages m WHERE m.body_id = b.id)
		AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.body_id = b.id)`
	if _, err := tx.exec(ctx, `DELETE FROM mail_fts WHERE rowid IN (`+orphans+`)`, account); err != nil {
		return 0, fmt.Errorf("collect bodies: %w", err)
	}
	res, err := tx.exec(ctx, `DELETE FROM mail_bodies WHERE id IN (`+orphans+`)`, account)
	if err != nil {
		return 0, fmt.Errorf("collect bodies: %w", err)
	}
	return res.RowsAffected()
}

// OpenMailBody returns a reader over a stored body, one chunk in memory at
// a time. The size and the first chunk come in one query (most bodies
// are one chunk: one query per body), and the reader ends at the stored
// size without asking for a chunk after it; a chunk missing before that
// size is an error wrapping io.ErrUnexpectedEOF.
func (db *DB) OpenMailBody(ctx context.Context, bodyID int64) (io.Reader, error) {
	var size int64
	var first []byte
	err := db.r.QueryRowContext(ctx, `SELECT b.size, c.data FROM mail_bodies b
		LEFT JOIN mail_body_chunks c ON c.body_id = b.id AND c.seq = 0 WHERE b.id = ?`, bodyID).Scan(&size, &first)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("body %d: %w", bodyID, ErrNotFound)
		}
		return nil, fmt.Errorf("body %d: %w", bodyID, err)
	}
	return &bodyReader{ctx: ctx, db: db, id: bodyID, seq: 1, buf: first, left: size}, nil
}

type bodyReader struct {
	ctx  context.Context
	db   *DB
	id   int64
	seq  int    // the next chunk to read
	buf  []byte // what is left of the chunk read last
	left int64  // bytes of the body not returned yet
}

func (r *bodyReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.left <= 0 {
			return 0, io.EOF
		}
		err := r.db.r.QueryRowContext(r.ctx, `SELECT data FROM mail_body_chunks WHERE body_id = ? AND seq = ?`, r.id, r.seq).Scan(&r.buf)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, fmt.Errorf("read body %d: chunk %d missing, %d bytes short: %w", r.id, r.seq, r.left, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return 0, fmt.Errorf("read body %d: %w", r.id, err)
		}
		r.seq++
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	r.left -= int64(n)
	return n, nil
}
