package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// LocalMail is a message as a local IMAP session keeps it in its view of
// a selected folder: what sequence numbers, FLAGS, SEARCH by flag, date
// and size, and reading the body need, and nothing else (an envelope is
// read from the body when asked for). A session holds one per message of
// its folder, so it is kept small: about 100 bytes, a sixth of a
// MailMessage with its header fields.
type LocalMail struct {
	ID           int64
	FolderID     int64
	BodyID       int64
	Size         int64
	InternalDate time.Time
	Date         time.Time // the Date header; zero when absent
	Flags        []string
	LocalUID     uint32
	Deleted      bool // hidden by a queued delete
}

// Seen reports whether the message has the \Seen flag.
func (m LocalMail) Seen() bool { return hasFlag(m.Flags, `\Seen`) }

const localMailColumns = `id, folder_id, body_id, size, internal_date, date, flags, local_uid, deleted`

// LocalMailMessages returns the messages shown in a folder (a queued
// delete hides one), ascending by local UID: the order of IMAP sequence
// numbers.
func (db *DB) LocalMailMessages(ctx context.Context, folderID int64) ([]LocalMail, error) {
	return db.queryLocalMail(ctx, `SELECT `+localMailColumns+` FROM mail_messages
		WHERE folder_id = ? AND deleted = 0 ORDER BY local_uid`, folderID)
}

// LocalMailChangedSince returns the folder's rows changed after modseq,
// ascending by local UID: messages shown since, messages whose flags
// changed, and messages hidden by a queued delete (Deleted set).
func (db *DB) LocalMailChangedSince(ctx context.Context, folderID int64, modseq uint64) ([]LocalMail, error) {
	return db.queryLocalMail(ctx, `SELECT `+localMailColumns+` FROM mail_messages
		WHERE folder_id = ? AND local_modseq > ? ORDER BY local_uid`, folderID, modseq)
}

// LocalMailByID returns one message as LocalMail.
func (db *DB) LocalMailByID(ctx context.Context, id int64) (LocalMail, error) {
	ms, err := db.queryLocalMail(ctx, `SELECT `+localMailColumns+` FROM mail_messages WHERE id = ?`, id)
	if err != nil {
		return LocalMail{}, err
	}
	if len(ms) == 0 {
		return LocalMail{}, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	return ms[0], nil
}

func (db *DB) queryLocalMail(ctx context.Context, q string, args ...any) ([]LocalMail, error) {
	rows, err := db.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	defer rows.Close()
	var out []LocalMail
	in := flagInterner{}
	for rows.Next() {
		var m LocalMail
		var idate int64
		var date sql.NullInt64
		var flags string
		if err := rows.Scan(&m.ID, &m.FolderID, &m.BodyID, &m.Size, &idate, &date, &flags, &m.LocalUID, &m.Deleted); err != nil {
			return nil, fmt.Errorf("list messages: %w", err)
		}
		m.InternalDate = time.UnixMilli(idate).UTC()
		m.Date = fromMillis(date)
		m.Flags = in.split(flags)
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list messages: %w", err)
	}
	return out, nil
}

// flagInterner shares the strings and the lists of flags a folder's
// messages have in common (most have one of a handful of combinations),
// so a view of many messages holds each once. The lists are shared:
// callers must not change them in place (nothing here or in the endpoint
// does; a change builds a new list).
type flagInterner map[string][]string

func (in flagInterner) split(s string) []string {
	if s == "" {
		return nil
	}
	if l, ok := in[s]; ok {
		return l
	}
	l := strings.Split(s, " ")
	if len(in) < 256 { // a folder with many distinct keyword sets gains nothing more
		in[s] = l
	}
	return l
}
