package store

import (
	"context"
	"fmt"
	"time"
)

// Account is a row of the accounts table.
type Account struct {
	Name      string
	CreatedAt time.Time
}

// EnsureAccounts inserts the named accounts that are not stored yet.
// Accounts missing from names are kept: removing an account from the
// configuration stops its sync but keeps its data until it is purged.
func (db *DB) EnsureAccounts(ctx context.Context, names []string) error {
	return db.Write(ctx, func(tx *Tx) error {
		for _, n := range names {
			if _, err := tx.exec(ctx, `INSERT INTO accounts (name, created_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`, n, tx.now); err != nil {
				return fmt.Errorf("store account %q: %w", n, err)
			}
		}
		return nil
	})
}

// Accounts lists the stored accounts by name.
func (db *DB) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := db.r.QueryContext(ctx, `SELECT name, created_at FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []Account
	for rows.Next() {
		var a Account
		var ms int64
		if err := rows.Scan(&a.Name, &ms); err != nil {
			return nil, err
		}
		a.CreatedAt = time.UnixMilli(ms).UTC()
		out = append(out, a)
	}
	return out, rows.Err()
}

// PurgeAccount deletes an account and everything stored for it: mail,
// queued actions, health, outages, conflicts. It reports whether the
// account existed.
func (db *DB) PurgeAccount(ctx context.Context, name string) (bool, error) {
	var found bool
	err := db.Write(ctx, func(tx *Tx) error {
		// The full-text index is not tied to the bodies by a foreign key.
		if _, err := tx.exec(ctx, `DELETE FROM mail_fts WHERE rowid IN (SELECT id FROM mail_bodies WHERE account = ?)`, name); err != nil {
			return fmt.Errorf("purge %s: %w", name, err)
		}
		// Messages reference bodies without cascading: drop them first.
		if _, err := tx.exec(ctx, `DELETE FROM mail_messages WHERE folder_id IN (SELECT id FROM mail_folders WHERE account = ?)`, name); err != nil {
			return fmt.Errorf("purge %s: %w", name, err)
		}
		res, err := tx.exec(ctx, `DELETE FROM accounts WHERE name = ?`, name)
		if err != nil {
			return fmt.Errorf("purge %s: %w", name, err)
		}
		n, _ := res.RowsAffected()
		found = n == 1
		return nil
	})
	return found, err
}
