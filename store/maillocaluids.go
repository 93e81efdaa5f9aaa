package store

import (
	"context"
	"fmt"
)

// Reads for the local IMAP endpoint, in its own UID space (LocalUID,
// MailFolder.LocalUIDValidity/LocalUIDNext). The UIDs are assigned by the
// schema's triggers when a row is created or shown in another folder
// (migration 0012); nothing here changes them.

// LocalMailCounts returns how many messages a folder shows and how many
// of them are unseen.
func (db *DB) LocalMailCounts(ctx context.Context, folderID int64) (messages, unseen uint32, err error) {
	err = db.r.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(seen = 0), 0) FROM mail_messages WHERE folder_id = ? AND deleted = 0`, folderID).Scan(&messages, &unseen)
	if err != nil {
		return 0, 0, fmt.Errorf("count messages of folder %d: %w", folderID, err)
	}
	return messages, unseen, nil
}

// MailBodiesMatching returns the bodies of a folder's messages that an
// FTS5 query matches (see MailSearchQuery for the syntax), as a set.
func (db *DB) MailBodiesMatching(ctx context.Context, folderID int64, ftsQuery string) (map[int64]bool, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT DISTINCT m.body_id FROM mail_fts JOIN mail_messages m ON m.body_id = mail_fts.rowid
		WHERE mail_fts MATCH ? AND m.folder_id = ?`, ftsQuery, folderID)
	if err != nil {
		return nil, fmt.Errorf("search folder %d: %w", folderID, err)
	}
	defer rows.Close()
	out := map[int64]bool{}
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out[id] = true
	}
	return out, rows.Err()
}
