package store

import (
	"context"
	"fmt"
)

// Reads for the local IMAP endpoint, in its own UID space (LocalUID,
// MailFolder.LocalUIDValidity/LocalUIDNext). The UIDs are assigned by the
// schema's triggers when a row is created or shown in another folder
// (migration 0012); nothing here changes them.

// LocalMailMessages returns the messages shown in a folder (a queued
// delete hides one), ascending by local UID: the order of IMAP sequence
// numbers.
func (db *DB) LocalMailMessages(ctx context.Context, folderID int64) ([]MailMessage, error) {
	return db.queryMailMessages(ctx, `SELECT `+mailMessageColumns+` FROM mail_messages m JOIN mail_folders f ON f.id = m.folder_id
		WHERE m.folder_id = ? AND m.deleted = 0 ORDER BY m.local_uid`, folderID)
}

// LocalMailCounts returns how many messages a folder shows and how many
// of them are unseen.
func (db *DB) LocalMailCounts(ctx context.Context, folderID int64) (messages, unseen uint32, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(seen = 0), 0) FROM mail_messages WHERE folder_id = ? AND deleted = 0`, folderID).Scan(&messages, &unseen)
	if err != nil {
		return 0, 0, fmt.Errorf("count messages of folder %d: %w", folderID, err)
	}
	return messages, unseen, nil
}
