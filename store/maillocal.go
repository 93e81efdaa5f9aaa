package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Local changes to the mail mirror, made by the outbox's local-change API
// in the same transaction as the outbox row that carries them to the
// server. They change the local view (folder_id, uid, flags, deleted)
// and never the remote location, which only a replay or a sync pass moves.

// MailFolderByName returns an account's folder.
func (db *DB) MailFolderByName(ctx context.Context, account, name string) (MailFolder, error) {
	f, err := scanMailFolder(db.r.QueryRowContext(ctx, `SELECT `+mailFolderColumns+` FROM mail_folders WHERE account = ? AND name = ?`, account, name))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("folder %q of %s: %w", name, account, ErrNotFound)
	}
	return f, err
}

// MailFolderBySpecialUse returns an account's folder with a special use
// such as \Trash or \Sent.
func (db *DB) MailFolderBySpecialUse(ctx context.Context, account, use string) (MailFolder, bool, error) {
	f, err := scanMailFolder(db.r.QueryRowContext(ctx, `SELECT `+mailFolderColumns+` FROM mail_folders WHERE account = ? AND special_use = ? ORDER BY id LIMIT 1`, account, use))
	if errors.Is(err, sql.ErrNoRows) {
		return f, false, nil
	}
	return f, err == nil, err
}

// MailFolderByID returns a folder.
func (db *DB) MailFolderByID(ctx context.Context, id int64) (MailFolder, error) {
	f, err := scanMailFolder(db.r.QueryRowContext(ctx, `SELECT `+mailFolderColumns+` FROM mail_folders WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("folder %d: %w", id, ErrNotFound)
	}
	return f, err
}

// SetLocalMailFlags sets the flags the user sees.
func (tx *Tx) SetLocalMailFlags(ctx context.Context, id int64, flags []string) error {
	var seen int
	if hasFlag(flags, `\Seen`) {
		seen = 1
	}
	_, err := tx.exec(ctx, `UPDATE mail_messages SET flags = ?, seen = ? WHERE id = ?`, joinFlags(flags), seen, id)
	if err != nil {
		return fmt.Errorf("flag message %d: %w", id, err)
	}
	return nil
}

// MoveMailLocal shows a message in another folder at once. Its UID there
// is unknown until the server assigns one: a negative placeholder keeps
// (folder, uid) unique meanwhile.
func (tx *Tx) MoveMailLocal(ctx context.Context, id, folderID int64) error {
	_, err := tx.exec(ctx, `UPDATE mail_messages SET folder_id = ?, uid = -id WHERE id = ?`, folderID, id)
	if err != nil {
		return fmt.Errorf("move message %d: %w", id, err)
	}
	return nil
}

// MarkMailDeleted hides a message whose deletion is queued.
func (tx *Tx) MarkMailDeleted(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `UPDATE mail_messages SET deleted = 1 WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete message %d: %w", id, err)
	}
	return nil
}

// SetMailRemote records where a replay put the message on the server. A
// known UID becomes the local one too when the message is shown in that
// folder; uid 0 (the server did not say) leaves the row for the next sync
// pass to find, by Message-ID, without downloading it again.
func (tx *Tx) SetMailRemote(ctx context.Context, id, folderID int64, uid uint32) error {
	var err error
	if uid == 0 {
		_, err = tx.exec(ctx, `DELETE FROM mail_messages WHERE id = ?`, id)
	} else {
		// A sync pass may have found the moved message at its new place
		// first (the replay's outcome was not recorded yet): that row is
		// this message; keep ours, which carries the local state.
		_, err = tx.exec(ctx, `DELETE FROM mail_messages WHERE remote_folder_id = ? AND remote_uid = ? AND id != ?`, folderID, uid, id)
		if err == nil {
			// modseq 0: the server's flags of this copy are unknown until
			// the next pass reads them (see MailUIDsFlagsUnknown).
			_, err = tx.exec(ctx, `UPDATE mail_messages SET remote_folder_id = ?1, remote_uid = ?2, modseq = 0,
				uid = CASE WHEN folder_id = ?1 THEN ?2 ELSE uid END WHERE id = ?3`, folderID, uid, id)
		}
	}
	if err != nil {
		return fmt.Errorf("record message %d on the server: %w", id, err)
	}
	return nil
}

// MailMessageTx reads a message inside a transaction.
func (tx *Tx) MailMessageTx(ctx context.Context, id int64) (MailMessage, error) {
	m, err := scanMailMessage(tx.tx.QueryRowContext(ctx, `SELECT `+mailMessageColumns+` FROM mail_messages m JOIN mail_folders f ON f.id = m.folder_id WHERE m.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return m, fmt.Errorf("message %d: %w", id, ErrNotFound)
	}
	return m, err
}

// RevertMailLocal shows a message where the server has it again: a local
// move or delete that could not be applied (the message was moved or
// deleted there meanwhile) is undone in the local view, so the next sync
// pass settles the row by what the server lists. A local-only message
// (migration 0013) has no place on the server to go back to: it stays
// where the user put it.
func (tx *Tx) RevertMailLocal(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `UPDATE mail_messages SET folder_id = remote_folder_id, uid = remote_uid, deleted = 0 WHERE id = ? AND remote_folder_id IS NOT NULL`, id); err != nil {
		return fmt.Errorf("revert message %d: %w", id, err)
	}
	return nil
}
