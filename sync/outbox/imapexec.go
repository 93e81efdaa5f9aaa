package outbox

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// IMAPExecutor replays mail.flags, mail.move, mail.delete and mail.append
// on an IMAP session it opens on demand and keeps between actions.
type IMAPExecutor struct {
	DB      *store.DB
	Account string
	Dial    hsync.MailWriterDialer

	session hsync.MailWriter
}

// Close implements Executor.
func (e *IMAPExecutor) Close() error {
	if e.session == nil {
		return nil
	}
	err := e.session.Close()
	e.session = nil
	return err
}

func (e *IMAPExecutor) conn(ctx context.Context) (hsync.MailWriter, error) {
	if e.session != nil && hsync.SignInEnding(e.session) {
		// Replaced before the server ends it for an expired token.
		e.session.Close()
		e.session = nil
	}
	if e.session == nil {
		s, err := e.Dial(ctx)
		if err != nil {
			return nil, err
		}
		e.session = s
	}
	return e.session, nil
}

// errGone is the conflict of an action on a message the server no longer
// has: kept for the user, never retried in a loop.
var errGone = errors.New("the message is no longer on the server (moved or deleted there)")

// gone settles a move or delete of a message another client moved or
// deleted first: the server's side wins, as for any message moved or
// deleted on both sides. The action ends as a visible conflict; the local
// view goes back to where the server had the message (the next pass then
// finds it where it is now, or removes it), and the later actions queued
// on it, which assume where it was, are cancelled instead of waiting
// behind the conflict for good.
func gone(ctx context.Context, row store.OutboxRow, id int64) error {
	return &Settled{State: store.OutboxConflict, Err: hsync.Errorf(hsync.Conflict, "outbox "+row.Kind, errGone), Apply: func(tx *store.Tx) error {
		if _, err := tx.CancelLaterOnKey(ctx, row.Account, row.TargetKey, row.ID, "cancelled: an earlier action found the message moved or deleted on the server"); err != nil {
			return err
		}
		return tx.RevertMailLocal(ctx, id)
	}}
}

// Execute implements Executor.
func (e *IMAPExecutor) Execute(ctx context.Context, row store.OutboxRow) (func(*store.Tx) error, error) {
	switch row.Kind {
	case KindFlags:
		var p FlagsPayload
		if err := decode(row.Payload, &p); err != nil {
			return nil, err
		}
		return e.flags(ctx, p)
	case KindMove:
		var p MovePayload
		if err := decode(row.Payload, &p); err != nil {
			return nil, err
		}
		return e.move(ctx, row, p.Message, p.Dest)
	case KindDelete:
		var p DeletePayload
		if err := decode(row.Payload, &p); err != nil {
			return nil, err
		}
		if p.Trash != "" {
			return e.move(ctx, row, p.Message, p.Trash)
		}
		return e.expunge(ctx, p.Message)
	case KindAppend:
		var p AppendPayload
		if err := decode(row.Payload, &p); err != nil {
			return nil, err
		}
		if p.Message != 0 {
			return e.appendLocal(ctx, row, p)
		}
		return nil, e.appendCopy(ctx, row, p)
	}
	return nil, hsync.Errorf(hsync.Permanent, "outbox", fmt.Errorf("kind %q is not an IMAP action", row.Kind))
}

// located is a stored message with the name of its folder on the server.
type located struct {
	store.MailMessage
	remoteFolder string
}

func (e *IMAPExecutor) locate(ctx context.Context, id int64) (located, error) {
	m, err := e.DB.MailMessageByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return located{}, hsync.Errorf(hsync.Conflict, "outbox", errGone)
	}
	if err != nil {
		return located{}, err
	}
	f, err := e.DB.MailFolderByID(ctx, m.RemoteFolderID)
	if err != nil {
		return located{}, hsync.Errorf(hsync.Conflict, "outbox", fmt.Errorf("its folder is gone: %w", err))
	}
	return located{MailMessage: m, remoteFolder: f.Name}, nil
}

func (e *IMAPExecutor) flags(ctx context.Context, p FlagsPayload) (func(*store.Tx) error, error) {
	m, err := e.locate(ctx, p.Message)
	if hsync.KindOf(err) == hsync.Conflict {
		return nil, nil // the message is gone everywhere: nothing to flag, as STORE on a gone UID
	}
	if err != nil {
		return nil, err
	}
	s, err := e.conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.Select(ctx, m.remoteFolder); err != nil {
		return nil, err
	}
	// A STORE on a UID the server no longer has is a silent no-op, which
	// is what a flag change on a message deleted elsewhere should be.
	return nil, s.StoreFlags(ctx, m.RemoteUID, p.Add, p.Remove)
}

func (e *IMAPExecutor) move(ctx context.Context, row store.OutboxRow, id int64, dest string) (func(*store.Tx) error, error) {
	m, err := e.locate(ctx, id)
	if err != nil {
		if hsync.KindOf(err) == hsync.Conflict {
			return nil, gone(ctx, row, id)
		}
		return nil, err
	}
	destFolder, err := e.DB.MailFolderByName(ctx, e.Account, dest)
	if err != nil {
		return nil, hsync.Errorf(hsync.Permanent, "outbox", fmt.Errorf("destination folder %q: %w", dest, err))
	}
	if m.RemoteFolderID == destFolder.ID {
		return nil, nil // an earlier attempt did it
	}
	s, err := e.conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.Select(ctx, m.remoteFolder); err != nil {
		return nil, err
	}
	newUID, found, err := s.Move(ctx, m.RemoteUID, dest)
	if err != nil {
		return nil, err
	}
	if !found {
		// Not at its old place: an earlier attempt may have moved it
		// before the outcome was recorded. Look for it in dest.
		uids, err := e.findIn(ctx, s, dest, m.MessageID)
		if err != nil {
			return nil, err
		}
		if len(uids) != 1 {
			return nil, gone(ctx, row, id)
		}
		newUID = uids[0]
	}
	return func(tx *store.Tx) error { return tx.SetMailRemote(ctx, id, destFolder.ID, newUID) }, nil
}

func (e *IMAPExecutor) findIn(ctx context.Context, s hsync.MailWriter, folder, msgID string) ([]uint32, error) {
	if msgID == "" {
		return nil, nil
	}
	if _, err := s.Select(ctx, folder); err != nil {
		return nil, err
	}
	return s.SearchMessageID(ctx, msgID)
}

func (e *IMAPExecutor) expunge(ctx context.Context, id int64) (func(*store.Tx) error, error) {
	m, err := e.locate(ctx, id)
	if err != nil {
		if hsync.KindOf(err) == hsync.Conflict {
			// Already gone from the server (or never bound there: a
			// local-only message whose append left no trace): the
			// deletion is done, and the hidden row goes too.
			return func(tx *store.Tx) error { return tx.DeleteMailMessagesByID(ctx, []int64{id}) }, nil
		}
		return nil, err
	}
	s, err := e.conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := s.Select(ctx, m.remoteFolder); err != nil {
		return nil, err
	}
	if err := s.Expunge(ctx, m.RemoteUID); err != nil {
		return nil, err
	}
	return func(tx *store.Tx) error { return tx.DeleteMailMessagesByID(ctx, []int64{id}) }, nil
}

// appendCopy stores the action's body in a folder, unless an earlier
// attempt already did (found by Message-ID).
func (e *IMAPExecutor) appendCopy(ctx context.Context, row store.OutboxRow, p AppendPayload) error {
	s, err := e.conn(ctx)
	if err != nil {
		return err
	}
	if row.Attempts > 1 && p.MessageID != "" {
		uids, err := e.findIn(ctx, s, p.Folder, p.MessageID)
		if err != nil {
			return err
		}
		if len(uids) > 0 {
			return nil
		}
	}
	body, err := e.DB.OpenMailBody(ctx, row.BodyID)
	if err != nil {
		return hsync.Errorf(hsync.Permanent, "outbox append", err)
	}
	_, err = s.Append(ctx, p.Folder, p.Flags, row.CreatedAt, p.Size, io.Reader(body))
	return err
}
