package imapd

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/holdover/holdover/store"
)

// Writer is the rest of the local-change API the endpoint uses when the
// Flagger also implements it (sync/outbox.Local does): MOVE, COPY,
// EXPUNGE and APPEND, each a local change committed with its outbox row
// before the client's OK. Every method returns the id of the message row
// it created or changed.
type Writer interface {
	Flagger
	// Move shows the message in dest at once (a new local UID there) and
	// queues the move.
	Move(ctx context.Context, messageID int64, dest string) (int64, error)
	// Expunge removes the message for good (no move to Trash) and
	// queues the deletion; Options.NoChange when it already is.
	Expunge(ctx context.Context, messageID int64) (int64, error)
	// Copy shows a copy in dest at once (same stored body) and queues
	// its upload; it returns the copy's row id.
	Copy(ctx context.Context, messageID int64, dest string) (int64, error)
	// Append stores msg in folder, shown at once, and queues its upload;
	// it returns the new row's id.
	Append(ctx context.Context, account, folder string, flags []string, date time.Time, msg io.Reader) (int64, error)
}

// AppendLimit is the largest message APPEND takes (sync/outbox's
// AppendLimit): a bigger one is refused with NO [TOOBIG] before a byte of
// it is read.
const AppendLimit = 50 << 20

var (
	errReadOnlyEndpoint = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "This holdover changes flags only over IMAP; move, delete and file mail with `holdover mail` meanwhile"}
	errExamined = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "The folder is open read-only (EXAMINE)"}
	errFolders = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "Folders are managed at the provider: create, rename or delete it there; holdover picks it up at the next sync"}
)

func errTryCreate(name string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTryCreate,
		Text: "No folder " + name + ": create it at the provider; holdover picks it up at the next sync"}
}

// writer returns the local-change API, or the NO that says why there is
// none.
func (ss *session) writer() (Writer, error) {
	w, ok := ss.s.opts.Flagger.(Writer)
	if !ok {
		return nil, errReadOnlyEndpoint
	}
	return w, nil
}

// gone reports whether a message of the session's view has left the
// store or been deleted since (by another session, the CLI, or a sync
// pass): a write on it is skipped, as a STORE on an expunged UID is,
// instead of failing the command.
func (ss *session) gone(id int64) bool {
	m, err := ss.s.opts.DB.MailMessageByID(ss.s.base, id)
	return errors.Is(err, store.ErrNotFound) || err == nil && m.Deleted
}

// target is a destination folder of COPY, MOVE or APPEND; one that is not
// mirrored gets NO [TRYCREATE], as RFC 9051 asks.
func (ss *session) target(name string) (store.MailFolder, error) {
	f, err := ss.folder(name)
	var ie *imap.Error
	if errors.As(err, &ie) && ie.Code == imap.ResponseCodeNonExistent {
		return f, errTryCreate(name)
	}
	return f, err
}

// Append stores the message as a local change: streamed to the outbox's
// spool, committed with its mail.append row, answered with APPENDUID in
// the local UID space.
func (ss *session) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	wr, err := ss.writer()
	if err != nil {
		return nil, err
	}
	f, err := ss.target(mailbox)
	if err != nil {
		return nil, err
	}
	if r.Size() > AppendLimit {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeTooBig, Text: "Message too big"}
	}
	if r.Size() == 0 {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "An empty message is not a message"}
	}
	var flags []string
	for _, fl := range options.Flags {
		if !strings.EqualFold(string(fl), `\Recent`) {
			flags = append(flags, string(fl))
		}
	}
	id, err := wr.Append(ss.s.base, ss.account, f.Name, flags, options.Time, r)
	if err != nil {
		return nil, ss.local("append message", err)
	}
	m, err := ss.s.opts.DB.MailMessageByID(ss.s.base, id)
	if err != nil {
		return nil, ss.local("read appended message", err)
	}
	return &imap.AppendData{UID: imap.UID(m.LocalUID), UIDValidity: f.LocalUIDValidity}, nil
}

// Copy shows copies in dest as local changes, one per message, each
// committed before the next, and answers COPYUID.
func (ss *session) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	wr, err := ss.writer()
	if err != nil {
		return nil, err
	}
	if ss.sel == nil {
		return nil, errReadOnlyEndpoint
	}
	f, err := ss.target(dest)
	if err != nil {
		return nil, err
	}
	data := &imap.CopyData{UIDValidity: f.LocalUIDValidity}
	err = ss.sel.each(numSet, func(seq uint32, m store.LocalMail) error {
		id, err := wr.Copy(ss.s.base, m.ID, f.Name)
		if err != nil && ss.gone(m.ID) {
			return nil
		}
		if err != nil {
			return ss.local("copy message", err)
		}
		c, err := ss.s.opts.DB.MailMessageByID(ss.s.base, id)
		if err != nil {
			return ss.local("read copied message", err)
		}
		data.SourceUIDs.AddNum(imap.UID(m.LocalUID))
		data.DestUIDs.AddNum(imap.UID(c.LocalUID))
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(data.SourceUIDs) == 0 {
		return nil, nil
	}
	return data, nil
}

// Move implements imapserver.SessionMove: each message is a local move
// (outbox Local.Move), committed before the next; COPYUID names the new
// local UIDs, then the moved messages leave the session's view with
// EXPUNGE responses. When a move fails, those before it are still
// reported, then the NO.
func (ss *session) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	wr, err := ss.writer()
	if err != nil {
		return err
	}
	if ss.sel.readOnly {
		return errExamined
	}
	f, err := ss.target(dest)
	if err != nil {
		return err
	}
	if f.ID == ss.sel.folder.ID {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "The messages are in this folder already"}
	}
	data := &imap.CopyData{UIDValidity: f.LocalUIDValidity}
	var moved []uint32
	moveErr := ss.sel.each(numSet, func(seq uint32, m store.LocalMail) error {
		if _, err := wr.Move(ss.s.base, m.ID, f.Name); err != nil {
			if ss.gone(m.ID) {
				return nil
			}
			return ss.local("move message", err)
		}
		n, err := ss.s.opts.DB.MailMessageByID(ss.s.base, m.ID)
		if err != nil {
			return ss.local("read moved message", err)
		}
		data.SourceUIDs.AddNum(imap.UID(m.LocalUID))
		data.DestUIDs.AddNum(imap.UID(n.LocalUID))
		moved = append(moved, m.LocalUID)
		return nil
	})
	if len(moved) > 0 {
		if err := w.WriteCopyData(data); err != nil {
			return err
		}
		if err := ss.expunged(w, moved); err != nil {
			return err
		}
	}
	return moveErr
}

// Expunge removes the selected folder's \Deleted messages (those in uids
// too, for UID EXPUNGE) for good, each a local change committed before
// the next, and reports them. On a folder opened with EXAMINE nothing is
// removed and nothing is said: CLOSE, which expunges through here
// without a writer to answer on, must still succeed there.
func (ss *session) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	wr, err := ss.writer()
	if err != nil || ss.sel.readOnly {
		return nil
	}
	var set imap.NumSet = imap.SeqSet{imap.SeqRange{Start: 1, Stop: 0}}
	if uids != nil {
		set = *uids
	}
	var gone []uint32
	expErr := ss.sel.each(set, func(seq uint32, m store.LocalMail) error {
		if !hasFlag(m.Flags, imap.FlagDeleted) {
			return nil
		}
		if _, err := wr.Expunge(ss.s.base, m.ID); err != nil && !errors.Is(err, ss.s.noChange()) && !ss.gone(m.ID) {
			return ss.local("expunge message", err)
		}
		gone = append(gone, m.LocalUID)
		return nil
	})
	if err := ss.expunged(w, gone); err != nil {
		return err
	}
	return expErr
}

// expungeWriter is what MOVE and EXPUNGE report removals on.
type expungeWriter interface{ WriteExpunge(seqNum uint32) error }

// expunged marks the messages the session removed (local UIDs) gone in
// its view and reports them, with any other message that left the folder
// meanwhile, through the view (expungeNow: from the highest sequence
// number down, so that every number sent is still valid when the client
// reads it, RFC 9051 7.5.1).
func (ss *session) expunged(w expungeWriter, uids []uint32) error {
	for _, uid := range uids {
		ss.sel.markGone(uid)
	}
	return ss.expungeNow(w.WriteExpunge)
}

// Folders are the provider's to manage (the mirror follows its list).

func (ss *session) Create(string, *imap.CreateOptions) error         { return errFolders }
func (ss *session) Delete(string) error                              { return errFolders }
func (ss *session) Rename(string, string, *imap.RenameOptions) error { return errFolders }
