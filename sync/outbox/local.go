package outbox

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/holdover/holdover/store"
)

// Local is the local-change API: every change to the mirror made on the
// user's behalf goes through it, so it gets its outbox row in the same
// transaction. Notify, when set, is called after a commit so a worker
// wakes (in the daemon: the account's worker; in the CLI: a nudge over the
// control socket).
type Local struct {
	DB *store.DB
	// SpoolDir holds submitted messages between the network and the
	// commit; "" means the system temp dir.
	SpoolDir string
	Notify   func(account, service string)
}

func (l *Local) notify(account, service string) {
	if l.Notify != nil {
		l.Notify(account, service)
	}
}

// ErrNoChange reports a change that changes nothing.
var ErrNoChange = errors.New("nothing to change")

// Flag adds and removes flags on a stored message and queues the delta.
// A still-pending flag change on the message absorbs it. It returns the
// outbox action id.
func (l *Local) Flag(ctx context.Context, messageID int64, add, remove []string) (int64, error) {
	if len(add)+len(remove) == 0 {
		return 0, ErrNoChange
	}
	for _, f := range append(append([]string{}, add...), remove...) {
		if f == "" || strings.ContainsAny(f, " ()\"{}\r\n") || strings.EqualFold(f, `\Recent`) {
			return 0, fmt.Errorf("invalid flag %q", f)
		}
	}
	var id int64
	var account string
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		m, err := tx.MailMessageTx(ctx, messageID)
		if err != nil {
			return err
		}
		if m.Deleted {
			return fmt.Errorf("message %d is deleted", messageID)
		}
		account = m.Account
		if err := tx.SetLocalMailFlags(ctx, m.ID, applyFlags(m.Flags, add, remove)); err != nil {
			return err
		}
		key := mailKey(m.ID)
		last, pending, err := tx.LastOpenOutbox(ctx, m.Account, key)
		if err != nil {
			return err
		}
		if pending && last.Kind == KindFlags {
			var p FlagsPayload
			if err := decode(last.Payload, &p); err == nil {
				id = last.ID
				return tx.SetOutboxPayload(ctx, last.ID, encode(composeFlags(p, add, remove)))
			}
		}
		id, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: m.Account, Kind: KindFlags, TargetKey: key,
			Payload: encode(FlagsPayload{Message: m.ID, Add: add, Remove: remove})})
		return err
	})
	if err == nil {
		l.notify(account, "imap")
	}
	return id, err
}

// Move shows a message in another folder at once and queues the move.
func (l *Local) Move(ctx context.Context, messageID int64, dest string) (int64, error) {
	var id int64
	var account string
	m, err := l.DB.MailMessageByID(ctx, messageID)
	if err != nil {
		return 0, err
	}
	if m.Deleted {
		return 0, fmt.Errorf("message %d is deleted", messageID)
	}
	df, err := l.DB.MailFolderByName(ctx, m.Account, dest)
	if err != nil {
		return 0, fmt.Errorf("move to %q: %w", dest, err)
	}
	if df.ID == m.FolderID {
		return 0, fmt.Errorf("message %d is already in %s: %w", messageID, dest, ErrNoChange)
	}
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		account = m.Account
		if err := tx.MoveMailLocal(ctx, m.ID, df.ID); err != nil {
			return err
		}
		var err error
		id, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: m.Account, Kind: KindMove, TargetKey: mailKey(m.ID),
			Payload: encode(MovePayload{Message: m.ID, Dest: dest})})
		return err
	})
	if err == nil {
		l.notify(account, "imap")
	}
	return id, err
}

// Delete moves a message to the account's Trash (or, without one, hides
// it) at once and queues the deletion. A message already in Trash is
// expunged.
func (l *Local) Delete(ctx context.Context, messageID int64) (int64, error) {
	m, err := l.DB.MailMessageByID(ctx, messageID)
	if err != nil {
		return 0, err
	}
	if m.Deleted {
		return 0, fmt.Errorf("message %d is already deleted: %w", messageID, ErrNoChange)
	}
	trash, hasTrash, err := l.DB.MailFolderBySpecialUse(ctx, m.Account, `\Trash`)
	if err != nil {
		return 0, err
	}
	if hasTrash && trash.ID == m.FolderID {
		hasTrash = false // deleting from Trash removes for good
	}
	var id int64
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		p := DeletePayload{Message: m.ID}
		if hasTrash {
			p.Trash = trash.Name
			if err := tx.MoveMailLocal(ctx, m.ID, trash.ID); err != nil {
				return err
			}
		} else if err := tx.MarkMailDeleted(ctx, m.ID); err != nil {
			return err
		}
		var err error
		id, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: m.Account, Kind: KindDelete, TargetKey: mailKey(m.ID), Payload: encode(p)})
		return err
	})
	if err == nil {
		l.notify(m.Account, "imap")
	}
	return id, err
}
