package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// MailFolder is a mirrored IMAP folder and its sync state.
type MailFolder struct {
	ID            int64
	Account       string
	Name          string
	Delimiter     string
	SpecialUse    string
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32 // the server's count at the last sync
	// SyncedUID is the listing watermark: every UID up to it that the
	// server had when a sync pass listed the folder is stored (or its
	// removal recorded). Only the engine's own listing moves it, never a
	// UID learned from a replay (COPYUID), so a message another client
	// put below it cannot be skipped.
	SyncedUID  uint32
	SyncedAt   time.Time
	VerifiedAt time.Time // last full verification; zero when never
	// The local IMAP endpoint's UIDVALIDITY and UIDNEXT of the folder,
	// holdover's own and independent of the server's (migration 0012).
	LocalUIDValidity uint32
	LocalUIDNext     uint32
}

const mailFolderColumns = `id, account, name, delimiter, special_use, uidvalidity, uidnext, highestmodseq, messages, synced_uid, synced_at, verified_at, local_uidvalidity, local_uidnext`

func scanMailFolder(s scanner) (MailFolder, error) {
	var f MailFolder
	var at, vat sql.NullInt64
	err := s.Scan(&f.ID, &f.Account, &f.Name, &f.Delimiter, &f.SpecialUse, &f.UIDValidity, &f.UIDNext, &f.HighestModSeq, &f.Messages, &f.SyncedUID, &at, &vat, &f.LocalUIDValidity, &f.LocalUIDNext)
	f.SyncedAt, f.VerifiedAt = fromMillis(at), fromMillis(vat)
	return f, err
}

// MailFolders lists an account's folders by name.
func (db *DB) MailFolders(ctx context.Context, account string) ([]MailFolder, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT `+mailFolderColumns+` FROM mail_folders WHERE account = ? ORDER BY name`, account)
	if err != nil {
		return nil, fmt.Errorf("list mail folders: %w", err)
	}
	defer rows.Close()
	var out []MailFolder
	for rows.Next() {
		f, err := scanMailFolder(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// UpsertMailFolder records a folder the server lists, keeping its sync
// state when it exists, and returns its id.
func (tx *Tx) UpsertMailFolder(ctx context.Context, account, name, delimiter, specialUse string) (int64, error) {
	var id int64
	err := tx.tx.QueryRowContext(ctx, `INSERT INTO mail_folders (account, name, delimiter, special_use) VALUES (?, ?, ?, ?)
		ON CONFLICT (account, name) DO UPDATE SET delimiter = excluded.delimiter, special_use = excluded.special_use
		RETURNING id`, account, name, delimiter, specialUse).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store folder %q: %w", name, err)
	}
	return id, nil
}

// DeleteMailFolder removes a folder the server no longer has, with its
// message rows. Their bodies stay until GCMailBodies, so messages that
// reappear elsewhere (a renamed folder) are not downloaded again.
func (tx *Tx) DeleteMailFolder(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `DELETE FROM mail_messages WHERE folder_id = ? OR remote_folder_id = ?`, id, id); err != nil {
		return fmt.Errorf("delete folder %d: %w", id, err)
	}
	if _, err := tx.exec(ctx, `DELETE FROM mail_folders WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delete folder %d: %w", id, err)
	}
	return nil
}

// FolderSyncState is what a sync pass records about a folder.
type FolderSyncState struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	Messages      uint32
	SyncedUID     uint32
}

// SetMailFolderState records a folder's state after (part of) a sync.
func (tx *Tx) SetMailFolderState(ctx context.Context, id int64, st FolderSyncState) error {
	_, err := tx.exec(ctx, `UPDATE mail_folders SET uidvalidity = ?, uidnext = ?, highestmodseq = ?, messages = ?, synced_uid = ?, synced_at = ? WHERE id = ?`,
		st.UIDValidity, st.UIDNext, st.HighestModSeq, st.Messages, st.SyncedUID, tx.now, id)
	if err != nil {
		return fmt.Errorf("record folder %d state: %w", id, err)
	}
	return nil
}

// SetMailFolderVerified records that a full verification found the
// folder equal to the server (or repaired it).
func (tx *Tx) SetMailFolderVerified(ctx context.Context, id int64) error {
	if _, err := tx.exec(ctx, `UPDATE mail_folders SET verified_at = ? WHERE id = ?`, tx.now, id); err != nil {
		return fmt.Errorf("record folder %d verified: %w", id, err)
	}
	return nil
}

// SetMailFolderSyncedUID moves a folder's listing watermark after a batch
// of listed messages is stored.
func (tx *Tx) SetMailFolderSyncedUID(ctx context.Context, id int64, uid uint32) error {
	_, err := tx.execHot(ctx, `UPDATE mail_folders SET synced_uid = max(synced_uid, ?) WHERE id = ?`, uid, id)
	if err != nil {
		return fmt.Errorf("record folder %d progress: %w", id, err)
	}
	return nil
}

// FolderSummary is a folder with its message and unread counts.
type FolderSummary struct {
	MailFolder
	Count  int
	Unread int
}

// MailFolderSummaries lists folders with counts, optionally for one account.
func (db *DB) MailFolderSummaries(ctx context.Context, account string) ([]FolderSummary, error) {
	q := `SELECT ` + prefixed("f.", mailFolderColumns) + `,
		(SELECT count(*) FROM mail_messages m WHERE m.folder_id = f.id AND m.deleted = 0),
		(SELECT count(*) FROM mail_messages m WHERE m.folder_id = f.id AND m.seen = 0 AND m.deleted = 0)
		FROM mail_folders f WHERE (? = '' OR f.account = ?) ORDER BY f.account, f.name`
	rows, err := db.r.QueryContext(ctx, q, account, account)
	if err != nil {
		return nil, fmt.Errorf("list mail folders: %w", err)
	}
	defer rows.Close()
	var out []FolderSummary
	for rows.Next() {
		var s FolderSummary
		var at, vat sql.NullInt64
		f := &s.MailFolder
		if err := rows.Scan(&f.ID, &f.Account, &f.Name, &f.Delimiter, &f.SpecialUse, &f.UIDValidity, &f.UIDNext, &f.HighestModSeq, &f.Messages, &f.SyncedUID, &at, &vat, &f.LocalUIDValidity, &f.LocalUIDNext, &s.Count, &s.Unread); err != nil {
			return nil, err
		}
		f.SyncedAt, f.VerifiedAt = fromMillis(at), fromMillis(vat)
		out = append(out, s)
	}
	return out, rows.Err()
}

// OldestMailVerification returns the oldest verified_at among an
// account's folders (zero when one was never verified) and how many
// folders there are.
func (db *DB) OldestMailVerification(ctx context.Context, account string) (time.Time, int, error) {
	var oldest sql.NullInt64
	var n int
	err := db.r.QueryRowContext(ctx, `SELECT min(coalesce(verified_at, 0)), count(*) FROM mail_folders WHERE account = ?`, account).Scan(&oldest, &n)
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("mail verification of %s: %w", account, err)
	}
	if !oldest.Valid || oldest.Int64 == 0 {
		return time.Time{}, n, nil
	}
	return time.UnixMilli(oldest.Int64).UTC(), n, nil
}
