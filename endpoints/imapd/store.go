package imapd

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/holdover/holdover/store"
)

// Flagger changes a stored message's flags as a local change: the new
// flags and the outbox row that carries them to the provider are
// committed together before Flag returns nil (sync/outbox.Local, what
// `holdover mail flag` uses). A change that changes nothing may return
// Options.NoChange, which is not an error here.
type Flagger interface {
	Flag(ctx context.Context, messageID int64, add, remove []string) (int64, error)
}

// errNoChangeDefault stands for Options.NoChange when none is given.
var errNoChangeDefault = errors.New("imapd: no change")

// permanentFlags are what STORE may set when writes are on: the system
// flags and keywords (\*).
var permanentFlags = []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft, imap.FlagWildcard}

func (ss *session) writable() bool {
	return ss.s.opts.Flagger != nil && ss.sel != nil && !ss.sel.readOnly
}

// Store changes flags through the Flagger, one local change per message,
// each committed before the next; the client's OK comes only after all
// of them are. FLAGS responses carry the flags as stored afterwards.
func (ss *session) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if ss.sel == nil || ss.s.opts.Flagger == nil {
		return errNotYet
	}
	if ss.sel.readOnly {
		return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot, Text: "The folder is open read-only (EXAMINE)"}
	}
	var want []string
	for _, f := range flags.Flags {
		if strings.EqualFold(string(f), `\Recent`) {
			continue // the server's to set, never a client's
		}
		want = append(want, string(f))
	}
	// Look first: a message another writer moved or deleted is then
	// known gone, and passed by, rather than flagged where it went.
	if err := ss.sel.load(ss.s.base, ss.s.opts.DB); err != nil {
		return ss.local("read folder changes", err)
	}
	return ss.sel.each(numSet, func(seq uint32, m store.LocalMail) error {
		if ss.sel.isGone(m) {
			return nil // left the folder: nothing to flag here (RFC 9051 6.4.6)
		}
		var add, remove []string
		switch flags.Op {
		case imap.StoreFlagsAdd:
			add = want
		case imap.StoreFlagsDel:
			remove = want
		case imap.StoreFlagsSet:
			add, remove = diffFlags(m.Flags, want)
		}
		m, err := ss.flag(m, add, remove)
		if err != nil {
			return err
		}
		if flags.Silent {
			return nil
		}
		rw := w.CreateMessage(seq)
		rw.WriteUID(imap.UID(m.LocalUID))
		rw.WriteFlags(imapFlags(m.Flags))
		return rw.Close()
	})
}

// flag applies one change and refreshes the session's copy of the
// message.
func (ss *session) flag(m store.LocalMail, add, remove []string) (store.LocalMail, error) {
	if len(add)+len(remove) == 0 {
		return m, nil
	}
	_, err := ss.s.opts.Flagger.Flag(ss.s.base, m.ID, add, remove)
	if err != nil && !errors.Is(err, ss.s.noChange()) {
		return m, ss.local("flag message", err)
	}
	fresh, err := ss.s.opts.DB.LocalMailByID(ss.s.base, m.ID)
	if err != nil {
		return m, ss.local("read message", err)
	}
	if fresh.FolderID != ss.sel.folder.ID || fresh.Deleted {
		// Moved or deleted meanwhile: the next poll reports it gone.
		return m, nil
	}
	ss.sel.update(fresh)
	return fresh, nil
}

// diffFlags is what a FLAGS (replace) changes: the flags to add and to
// remove, compared without case.
func diffFlags(have, want []string) (add, remove []string) {
	in := func(l []string, f string) bool {
		return slices.ContainsFunc(l, func(x string) bool { return strings.EqualFold(x, f) })
	}
	for _, f := range want {
		if !in(have, f) {
			add = append(add, f)
		}
	}
	for _, f := range have {
		if !in(want, f) && !strings.EqualFold(f, `\Recent`) {
			remove = append(remove, f)
		}
	}
	return add, remove
}
