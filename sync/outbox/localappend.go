package outbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/mailsync"
)

// Expunge removes a message for good (IMAP EXPUNGE: a mail app moves to
// Trash itself before, when it wants to): it is hidden at once and a
// mail.delete with no Trash is queued, which the executor replays as
// \Deleted + UID EXPUNGE. Unlike Delete, a message outside Trash is not
// moved there.
func (l *Local) Expunge(ctx context.Context, messageID int64) (int64, error) {
	var id int64
	var account string
	err := l.DB.Write(ctx, func(tx *store.Tx) error {
		m, err := tx.MailMessageTx(ctx, messageID)
		if err != nil {
			return err
		}
		if m.Deleted {
			return fmt.Errorf("message %d is already deleted: %w", messageID, ErrNoChange)
		}
		account = m.Account
		if err := tx.MarkMailDeleted(ctx, m.ID); err != nil {
			return err
		}
		id, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: m.Account, Kind: KindDelete, TargetKey: mailKey(m.ID),
			Payload: encode(DeletePayload{Message: m.ID})})
		return err
	})
	if err == nil {
		l.notify(account, "imap")
	}
	return id, err
}

// Copy shows a copy of a stored message in another folder at once, as a
// local-only row (a new local UID there; the same stored body, nothing
// downloaded) and queues its mail.append: the copy is uploaded from the
// store rather than made with UID COPY, so it works whatever the source
// is waiting for (a queued append or move of its own). It returns the
// new row's id.
func (l *Local) Copy(ctx context.Context, messageID int64, dest string) (int64, error) {
	src, err := l.DB.MailMessageByID(ctx, messageID)
	if err != nil {
		return 0, err
	}
	if src.Deleted {
		return 0, fmt.Errorf("message %d is deleted", messageID)
	}
	df, err := l.DB.MailFolderByName(ctx, src.Account, dest)
	if err != nil {
		return 0, fmt.Errorf("copy to %q: %w", dest, err)
	}
	var id int64
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		m, err := tx.MailMessageTx(ctx, messageID)
		if err != nil {
			return err
		}
		m.FolderID = df.ID
		id, err = l.insertLocal(ctx, tx, m, df.Name)
		return err
	})
	if err == nil {
		l.notify(src.Account, "imap")
	}
	return id, err
}

// insertLocal stores m as a local-only row (its body already stored)
// and queues the mail.append that puts it on the server.
func (l *Local) insertLocal(ctx context.Context, tx *store.Tx, m store.MailMessage, folder string) (int64, error) {
	id, err := tx.InsertLocalMailMessage(ctx, m)
	if err != nil {
		return 0, err
	}
	_, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: m.Account, Kind: KindAppend, TargetKey: mailKey(id), BodyID: m.BodyID,
		Payload: encode(AppendPayload{Message: id, Folder: folder, MessageID: m.MessageID, Size: m.Size})})
	return id, err
}

// AppendLimit is the largest message Append stores.
const AppendLimit = 50 << 20

// ErrTooBig reports a message over AppendLimit.
var ErrTooBig = fmt.Errorf("message larger than %d bytes", AppendLimit)

// Append stores a message a mail app put in a folder (IMAP APPEND): it is
// shown there at once, a local-only row with its body in the store and
// a local UID, and a mail.append is queued. The message is spooled to
// SpoolDir first, so no client read happens inside the transaction and
// no more than a chunk of it is in memory. When the replay has put it on
// the server, the server's copy is bound to this same row (APPENDUID, or
// a search by Message-ID), so it is neither shown twice nor downloaded.
// It returns the new row's id.
func (l *Local) Append(ctx context.Context, account, folder string, flags []string, date time.Time, msg io.Reader) (int64, error) {
	for _, f := range flags {
		if f == "" || strings.ContainsAny(f, " ()\"{}\r\n") || strings.EqualFold(f, `\Recent`) {
			return 0, fmt.Errorf("invalid flag %q", f)
		}
	}
	df, err := l.DB.MailFolderByName(ctx, account, folder)
	if err != nil {
		return 0, fmt.Errorf("append to %q: %w", folder, err)
	}
	sp, err := l.spoolAppend(msg)
	if err != nil {
		return 0, err
	}
	defer func() {
		sp.f.Close()
		os.Remove(sp.f.Name())
	}()
	if date.IsZero() {
		date = time.Now()
	}
	m := sp.meta
	m.Account, m.FolderID, m.Flags, m.InternalDate, m.Size = account, df.ID, flags, date, sp.size
	var id int64
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		bodyID, err := tx.InsertMailBody(ctx, account, m.MessageID, sp.size, sp.f)
		if err != nil {
			return err
		}
		if err := tx.IndexMailBody(ctx, bodyID, m.Subject, m.From, joinAddrs(m.To, m.Cc), sp.text); err != nil {
			return err
		}
		m.BodyID = bodyID
		id, err = l.insertLocal(ctx, tx, m, df.Name)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store appended message: %w", err)
	}
	l.notify(account, "imap")
	return id, nil
}

// appendSpool is a message between the client and the commit.
type appendSpool struct {
	f    *os.File
	size int64
	meta store.MailMessage // the header's fields
	text string            // for the full-text index
}

func (l *Local) spoolAppend(msg io.Reader) (appendSpool, error) {
	f, err := os.CreateTemp(l.SpoolDir, "holdover-append-*")
	if err != nil {
		return appendSpool{}, fmt.Errorf("spool message: %w", err)
	}
	sp := appendSpool{f: f}
	fail := func(err error) (appendSpool, error) {
		f.Close()
		os.Remove(f.Name())
		return appendSpool{}, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(msg, AppendLimit+1))
	if err != nil {
		return fail(fmt.Errorf("spool message: %w", err))
	}
	if n > AppendLimit {
		return fail(ErrTooBig)
	}
	if n == 0 {
		return fail(errors.New("empty message"))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("spool message: %w", err))
	}
	sp.size = n
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	sp.meta = headerMeta(bufio.NewReader(f))
	sp.text = mailsync.ExtractText(io.NewSectionReader(f, 0, n), 256<<10)
	return sp, nil
}

// headerMeta reads what the mirror lists of a message from its header;
// a header that does not parse leaves the fields empty (the message is
// stored as it is, like any the server would accept).
func headerMeta(r *bufio.Reader) store.MailMessage {
	var m store.MailMessage
	header, err := readHeader(r)
	if err != nil {
		return m
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(append(header, '\r', '\n')))
	if err != nil {
		return m
	}
	h := parsed.Header
	dec := new(mime.WordDecoder)
	text := func(s string) string {
		if d, err := dec.DecodeHeader(s); err == nil {
			return d
		}
		return s
	}
	m.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-ID")), "<>")
	m.Subject = text(h.Get("Subject"))
	m.From, m.To, m.Cc = text(h.Get("From")), text(h.Get("To")), text(h.Get("Cc"))
	if d, err := h.Date(); err == nil {
		m.Date = d
	}
	return m
}

func joinAddrs(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}
