package outbox

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// appendLocal replays the append of a local-only message (an APPEND or
// COPY through the local IMAP endpoint) and binds the server's copy to
// the message's row: the row keeps its id and local UID, and gets the
// server's folder and UID, so a sync pass sees a message it has.
//
// The copy is found again rather than appended twice: a row a sync pass
// already bound needs nothing; after an attempt whose outcome was not
// recorded, the folder is searched by Message-ID first. Without a
// Message-ID and without APPENDUID the row stays local-only (shown, never
// bound) and the next pass brings the server's copy as a second message:
// the one case the store cannot tell apart, and one no server with
// UIDPLUS reaches.
func (e *IMAPExecutor) appendLocal(ctx context.Context, row store.OutboxRow, p AppendPayload) (func(*store.Tx) error, error) {
	m, err := e.DB.MailMessageByID(ctx, p.Message)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // removed with its folder: nothing left to append
	}
	if err != nil {
		return nil, err
	}
	if m.RemoteFolderID != 0 {
		return nil, nil // a sync pass found the server's copy and bound it
	}
	dest, err := e.DB.MailFolderByName(ctx, e.Account, p.Folder)
	if err != nil {
		return nil, hsync.Errorf(hsync.Permanent, "outbox append", fmt.Errorf("folder %q: %w", p.Folder, err))
	}
	s, err := e.conn(ctx)
	if err != nil {
		return nil, err
	}
	bind := func(uid uint32) func(*store.Tx) error {
		return func(tx *store.Tx) error { return tx.SetMailRemote(ctx, m.ID, dest.ID, uid) }
	}
	if row.Attempts > 1 && m.MessageID != "" {
		if uid, err := e.unbound(ctx, s, dest, m.MessageID); err != nil || uid != 0 {
			if err != nil {
				return nil, err
			}
			return bind(uid), nil
		}
	}
	body, err := e.DB.OpenMailBody(ctx, m.BodyID)
	if err != nil {
		return nil, hsync.Errorf(hsync.Permanent, "outbox append", err)
	}
	// The row's flags now, not at enqueue: a flag change made meanwhile
	// is queued behind this action too, and re-applying it is harmless.
	flags := slices.DeleteFunc(slices.Clone(m.Flags), func(f string) bool { return f == `\Recent` })
	uid, err := s.Append(ctx, p.Folder, flags, m.InternalDate, m.Size, body)
	if err != nil {
		return nil, err
	}
	if uid == 0 && m.MessageID != "" {
		if uid, err = e.unbound(ctx, s, dest, m.MessageID); err != nil {
			return nil, err
		}
	}
	if uid == 0 {
		return nil, nil // the next pass binds it by Message-ID (see above)
	}
	return bind(uid), nil
}

// unbound returns the highest UID in dest with this Message-ID that no
// stored row is bound to (0 for none): the copy an earlier attempt put
// there.
func (e *IMAPExecutor) unbound(ctx context.Context, s hsync.MailWriter, dest store.MailFolder, msgID string) (uint32, error) {
	uids, err := e.findIn(ctx, s, dest.Name, msgID)
	if err != nil {
		return 0, err
	}
	known, err := e.DB.MailFlagsOf(ctx, dest.ID, uids)
	if err != nil {
		return 0, err
	}
	var best uint32
	for _, u := range uids {
		if _, ok := known[u]; !ok {
			best = max(best, u)
		}
	}
	return best, nil
}
