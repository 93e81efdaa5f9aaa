package store

import (
	"context"
	"fmt"
)

// Messages that exist only locally (migration 0013): appended or copied
// through the local IMAP endpoint, waiting for the outbox to put them on
// the server. Their local UID is assigned when the row is created and
// never changes, whichever way the row is later bound to the server's
// copy.

// InsertLocalMailMessage stores a message row with no remote location
// for a body already stored. Its uid is a negative placeholder (the
// server has not assigned one), which keeps (folder, uid) unique.
func (tx *Tx) InsertLocalMailMessage(ctx context.Context, m MailMessage) (int64, error) {
	var seen int
	if m.Seen() {
		seen = 1
	}
	res, err := tx.exec(ctx, `INSERT INTO mail_messages (folder_id, uid, remote_folder_id, remote_uid, body_id, message_id, size, internal_date, date, flags, seen, modseq, subject, from_addr, to_addr, cc_addr)
		VALUES (?1, -(SELECT coalesce(max(id), 0) + 1 FROM mail_messages), NULL, NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, ?9, ?10, ?11, ?12)`,
		m.FolderID, m.BodyID, m.MessageID, m.Size, m.InternalDate.UnixMilli(), millisOrNil(m.Date), joinFlags(m.Flags), seen,
		m.Subject, m.From, m.To, m.Cc)
	if err != nil {
		return 0, fmt.Errorf("store local message: %w", err)
	}
	return res.LastInsertId()
}

// BindLocalMailMessage makes a local-only message of the folder with this
// Message-ID and size the row of the server's message at uid, instead of
// a new row: the server's copy is the one its queued append put there
// (found by a sync pass before the replay recorded it). It reports
// whether a row was bound. Its flags on the server are left unknown
// (modseq 0) for the next pass to read; its local UID stays.
func (tx *Tx) BindLocalMailMessage(ctx context.Context, folderID int64, uid uint32, msgID string, size int64) (bool, error) {
	if msgID == "" {
		return false, nil
	}
	res, err := tx.execHot(ctx, `UPDATE mail_messages SET remote_folder_id = ?1, remote_uid = ?2, uid = ?2, modseq = 0
		WHERE id = (SELECT id FROM mail_messages WHERE folder_id = ?1 AND remote_folder_id IS NULL AND message_id = ?3 AND size = ?4 ORDER BY id LIMIT 1)`,
		folderID, uid, msgID, size)
	if err != nil {
		return false, fmt.Errorf("bind local message to uid %d: %w", uid, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// HasLocalOnlyMail reports whether a folder shows a message the server
// does not have yet (so a sync pass only looks for one to bind when
// there is one).
func (tx *Tx) HasLocalOnlyMail(ctx context.Context, folderID int64) (bool, error) {
	var n int
	err := tx.tx.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM mail_messages WHERE folder_id = ? AND remote_folder_id IS NULL LIMIT 1)`, folderID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("local-only messages of folder %d: %w", folderID, err)
	}
	return n > 0, nil
}
