package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// MailMessage is a mirrored message's metadata.
type MailMessage struct {
	ID           int64
	FolderID     int64
	Account      string // filled by reads that join the folder
	Folder       string // idem
	UID          uint32 // 0 while a local move waits for the server's UID
	BodyID       int64
	MessageID    string
	Size         int64
	InternalDate time.Time
	Date         time.Time
	Flags        []string
	ModSeq       uint64
	Subject      string
	From         string
	To           string
	Cc           string
	// Where the server has the message, when a local move or delete is
	// still queued (equal to FolderID/UID otherwise).
	RemoteFolderID int64
	RemoteUID      uint32
	Deleted        bool // deleted locally, the delete still queued
	// LocalUID is the message's UID in the local IMAP endpoint's space of
	// its folder (FolderID): holdover's own, never the server's (see
	// migration 0012).
	LocalUID uint32
}

// Seen reports whether the message has the \Seen flag.
func (m MailMessage) Seen() bool { return hasFlag(m.Flags, `\Seen`) }

func hasFlag(flags []string, f string) bool {
	return slices.ContainsFunc(flags, func(x string) bool { return strings.EqualFold(x, f) })
}

// joinFlags stores flags sorted and space-separated, so equal sets compare
// equal as strings.
func joinFlags(flags []string) string {
	s := slices.Clone(flags)
	slices.Sort(s)
	return strings.Join(slices.Compact(s), " ")
}

func splitFlags(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, " ")
}

func millisOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMilli()
}

// InsertMailMessage stores a message row for a body already stored. An
// existing row with the same folder and UID is replaced (a re-run of a
// batch whose commit was not recorded).
func (tx *Tx) InsertMailMessage(ctx context.Context, m MailMessage) (int64, error) {
	var seen int
	if m.Seen() {
		seen = 1
	}
	res, err := tx.execHot(ctx, `INSERT INTO mail_messages (folder_id, uid, remote_folder_id, remote_uid, body_id, message_id, size, internal_date, date, flags, seen, modseq, subject, from_addr, to_addr, cc_addr)
		VALUES (?1, ?2, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
		ON CONFLICT (remote_folder_id, remote_uid) DO UPDATE SET body_id = excluded.body_id, flags = excluded.flags, seen = excluded.seen, modseq = excluded.modseq`,
		m.FolderID, m.UID, m.BodyID, m.MessageID, m.Size, m.InternalDate.UnixMilli(), millisOrNil(m.Date), joinFlags(m.Flags), seen, m.ModSeq,
		m.Subject, m.From, m.To, m.Cc)
	if err != nil {
		return 0, fmt.Errorf("store message uid %d: %w", m.UID, err)
	}
	return res.LastInsertId()
}

// SetMailFlags replaces a message's flags; it reports whether the message
// exists.
func (tx *Tx) SetMailFlags(ctx context.Context, folderID int64, uid uint32, flags []string, modseq uint64) (bool, error) {
	var seen int
	if hasFlag(flags, `\Seen`) {
		seen = 1
	}
	res, err := tx.execHot(ctx, `UPDATE mail_messages SET flags = ?, seen = ?, modseq = max(modseq, ?) WHERE remote_folder_id = ? AND remote_uid = ?`,
		joinFlags(flags), seen, modseq, folderID, uid)
	if err != nil {
		return false, fmt.Errorf("set flags uid %d: %w", uid, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// SetMailUID re-identifies a stored message under a new server UID
// (after a UIDVALIDITY change); the local view follows when the message
// is where the server has it.
func (tx *Tx) SetMailUID(ctx context.Context, id int64, uid uint32) error {
	if _, err := tx.exec(ctx, `UPDATE mail_messages SET uid = CASE WHEN folder_id = remote_folder_id THEN ?1 ELSE uid END, remote_uid = ?1 WHERE id = ?2`, uid, id); err != nil {
		return fmt.Errorf("renumber message %d: %w", id, err)
	}
	return nil
}

// DeleteMailMessages removes the rows of messages the server no longer
// has at these UIDs of the folder. Bodies stay until GCMailBodies.
func (tx *Tx) DeleteMailMessages(ctx context.Context, folderID int64, uids []uint32) error {
	for len(uids) > 0 {
		n := min(len(uids), 500)
		args := []any{folderID}
		for _, u := range uids[:n] {
			args = append(args, u)
		}
		if _, err := tx.exec(ctx, `DELETE FROM mail_messages WHERE remote_folder_id = ? AND remote_uid IN (`+placeholders(n)+`)`, args...); err != nil {
			return fmt.Errorf("delete messages: %w", err)
		}
		uids = uids[n:]
	}
	return nil
}

// DeleteMailMessagesByID removes message rows by id.
func (tx *Tx) DeleteMailMessagesByID(ctx context.Context, ids []int64) error {
	for _, id := range ids {
		if _, err := tx.exec(ctx, `DELETE FROM mail_messages WHERE id = ?`, id); err != nil {
			return fmt.Errorf("delete message %d: %w", id, err)
		}
	}
	return nil
}

// MailUIDs returns the server UIDs stored for a folder, ascending.
func (db *DB) MailUIDs(ctx context.Context, folderID int64) ([]uint32, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT remote_uid FROM mail_messages WHERE remote_folder_id = ? ORDER BY remote_uid`, folderID)
	if err != nil {
		return nil, fmt.Errorf("list uids: %w", err)
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

// MailUIDsAbove splits a folder's stored server UIDs at the listing
// watermark w: how many are at or below it, and those above, ascending.
// Both queries use the (remote_folder_id, remote_uid) index.
func (db *DB) MailUIDsAbove(ctx context.Context, folderID int64, w uint32) (atOrBelow int, above []uint32, err error) {
	if err := db.r.QueryRowContext(ctx, `SELECT count(*) FROM mail_messages WHERE remote_folder_id = ? AND remote_uid <= ?`, folderID, w).Scan(&atOrBelow); err != nil {
		return 0, nil, fmt.Errorf("count messages: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT remote_uid FROM mail_messages WHERE remote_folder_id = ? AND remote_uid > ? ORDER BY remote_uid`, folderID, w)
	if err != nil {
		return 0, nil, fmt.Errorf("list uids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u uint32
		if err := rows.Scan(&u); err != nil {
			return 0, nil, err
		}
		above = append(above, u)
	}
	return atOrBelow, above, rows.Err()
}

// MailFolderFlags returns every stored message of a folder on the server
// side: server UID → stored flags (for a full verification).
func (db *DB) MailFolderFlags(ctx context.Context, folderID int64) (map[uint32]string, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT remote_uid, flags FROM mail_messages WHERE remote_folder_id = ?`, folderID)
	if err != nil {
		return nil, fmt.Errorf("read flags: %w", err)
	}
	defer rows.Close()
	out := map[uint32]string{}
	for rows.Next() {
		var u uint32
		var f string
		if err := rows.Scan(&u, &f); err != nil {
			return nil, err
		}
		out[u] = f
	}
	return out, rows.Err()
}

// MailUIDsFlagsUnknown returns the server UIDs of a folder's messages
// whose flags on the server are not known (modseq 0: placed there by a
// replayed move). Only meaningful with CONDSTORE, where every message
// read from the server has a MODSEQ.
func (db *DB) MailUIDsFlagsUnknown(ctx context.Context, folderID int64) ([]uint32, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT remote_uid FROM mail_messages WHERE remote_folder_id = ? AND modseq = 0 ORDER BY remote_uid`, folderID)
	if err != nil {
		return nil, fmt.Errorf("list messages with unknown flags: %w", err)
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

// MailFlagsOf returns the stored flags of some of a folder's messages,
// by server UID.
func (db *DB) MailFlagsOf(ctx context.Context, folderID int64, uids []uint32) (map[uint32]string, error) {
	out := map[uint32]string{}
	for len(uids) > 0 {
		n := min(len(uids), 500)
		args := []any{folderID}
		for _, u := range uids[:n] {
			args = append(args, u)
		}
		rows, err := db.r.QueryContext(ctx, `SELECT remote_uid, flags FROM mail_messages WHERE remote_folder_id = ? AND remote_uid IN (`+placeholders(n)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("read flags: %w", err)
		}
		for rows.Next() {
			var u uint32
			var f string
			if err := rows.Scan(&u, &f); err != nil {
				rows.Close()
				return nil, err
			}
			out[u] = f
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		uids = uids[n:]
	}
	return out, nil
}

// MailCount returns how many messages the server has in a folder as far
// as the store knows, and the highest of their UIDs.
func (db *DB) MailCount(ctx context.Context, folderID int64) (count int, maxUID uint32, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT count(*), coalesce(max(remote_uid), 0) FROM mail_messages WHERE remote_folder_id = ?`, folderID).Scan(&count, &maxUID)
	if err != nil {
		return 0, 0, fmt.Errorf("count messages: %w", err)
	}
	return count, maxUID, nil
}

// JoinFlags is the canonical stored form of a flag set (for comparisons).
func JoinFlags(flags []string) string { return joinFlags(flags) }

const mailMessageColumns = `m.id, m.folder_id, f.account, f.name, m.uid, m.body_id, m.message_id, m.size, m.internal_date, m.date, m.flags, m.modseq, m.subject, m.from_addr, m.to_addr, m.cc_addr, m.remote_folder_id, m.remote_uid, m.deleted, m.local_uid`

func scanMailMessage(s scanner) (MailMessage, error) {
	var m MailMessage
	var idate int64
	var date sql.NullInt64
	var flags string
	var rf, ru sql.NullInt64
	var uid int64 // negative: a placeholder until the server assigns one
	err := s.Scan(&m.ID, &m.FolderID, &m.Account, &m.Folder, &uid, &m.BodyID, &m.MessageID, &m.Size, &idate, &date, &flags, &m.ModSeq, &m.Subject, &m.From, &m.To, &m.Cc, &rf, &ru, &m.Deleted, &m.LocalUID)
	m.RemoteFolderID, m.RemoteUID = rf.Int64, uint32(ru.Int64)
	if uid > 0 {
		m.UID = uint32(uid)
	}
	m.InternalDate = time.UnixMilli(idate).UTC()
	m.Date = fromMillis(date)
	m.Flags = splitFlags(flags)
	return m, err
}

// MailFilter selects messages for ListMailMessages.
type MailFilter struct {
	Account  string
	Folder   string
	FolderID int64
	Unread   bool
	Limit    int
}

// ListMailMessages returns messages newest first.
func (db *DB) ListMailMessages(ctx context.Context, f MailFilter) ([]MailMessage, error) {
	q := `SELECT ` + mailMessageColumns + ` FROM mail_messages m JOIN mail_folders f ON f.id = m.folder_id WHERE m.deleted = 0`
	var args []any
	if f.Account != "" {
		q += ` AND f.account = ?`
		args = append(args, f.Account)
	}
	if f.Folder != "" {
		q += ` AND f.name = ?`
		args = append(args, f.Folder)
	}
	if f.FolderID != 0 {
		q += ` AND m.folder_id = ?`
		args = append(args, f.FolderID)
	}
	if f.Unread {
		q += ` AND m.seen = 0`
	}
	q += ` ORDER BY m.internal_date DESC, m.id DESC`
	if f.Limit > 0 {
		q += ` LIMIT ?`
		args = append(args, f.Limit)
	}
	return db.queryMailMessages(ctx, q, args...)
}

func (db *DB) queryMailMessages(ctx context.Context, q string, args ...any) ([]MailMessage, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	var out []MailMessage
	for rows.Next() {
		m, err := scanMailMessage(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// MailMessageByID returns one message.
func (db *DB) MailMessageByID(ctx context.Context, id int64) (MailMessage, error) {
	m, err := scanMailMessage(db.r.QueryRowContext(ctx, `SELECT `+mailMessageColumns+` FROM mail_messages m JOIN mail_folders f ON f.id = m.folder_id WHERE m.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	return m, err
}

// MailMessagesForMatching returns a folder's stored messages (for
// re-identification after a UIDVALIDITY change).
func (db *DB) MailMessagesForMatching(ctx context.Context, folderID int64) ([]MailMessage, error) {
	return db.queryMailMessages(ctx, `SELECT `+mailMessageColumns+` FROM mail_messages m JOIN mail_folders f ON f.id = m.folder_id WHERE m.remote_folder_id = ? ORDER BY m.remote_uid`, folderID)
}

// SearchMail runs an FTS5 query and returns matching messages, newest
// first. The query is in FTS5 syntax (see package mailsearch for the
// user-facing translation).
func (db *DB) SearchMail(ctx context.Context, account, ftsQuery string, limit int) ([]MailMessage, error) {
	if limit <= 0 {
		limit = 100
	}
	q := `SELECT ` + mailMessageColumns + ` FROM mail_fts
		JOIN mail_messages m ON m.body_id = mail_fts.rowid
		JOIN mail_folders f ON f.id = m.folder_id
		WHERE mail_fts MATCH ? AND (? = '' OR f.account = ?) AND m.deleted = 0
		ORDER BY m.internal_date DESC, m.id DESC LIMIT ?`
	return db.queryMailMessages(ctx, q, ftsQuery, account, account, limit)
}
