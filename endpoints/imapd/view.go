package imapd

import (
	"context"
	"errors"
	"slices"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/store"
)

// selected is a selected folder as its client knows it: msgs[i] has
// sequence number i+1, ascending by local UID. A view holds each message
// as a store.LocalMail (about 110 bytes: no header fields, flag lists
// shared), so a session on a 100,000-message folder costs about 11 MB. The store moves on under
// it (sync passes, the CLI, other sessions); load brings the view up to
// date and report tells the client, the IMAP way (see the package doc).
//
// go-imap's MailboxTracker/SessionTracker are not used: they learn of
// changes only from writers in this process that call them, while ours
// come from SQL (the sync engine, the CLI's own process), and they panic
// on an update that does not fit their count. The store's change
// counters are the one source every writer feeds.
type selected struct {
	folder store.MailFolder
	msgs   []store.LocalMail
	// gone holds the local UIDs of msgs that left the folder and whose
	// EXPUNGE the client has not had yet: they keep their sequence
	// numbers until a command that allows EXPUNGE responses ends.
	gone map[uint32]bool
	// seen are the folder's change counters msgs reflect (store,
	// migration 0015): while the folder's are equal there is nothing to
	// read.
	seen     store.LocalMailCounters
	readOnly bool // EXAMINE, or no Flagger
	// fts caches the bodies an FTS query matched, during one SEARCH.
	fts map[string]map[int64]bool

	// What load found and report has not written yet.
	flagged []uint32 // local UIDs whose flags changed
	grew    bool     // messages were appended: EXISTS
}

// openView reads a folder for SELECT. The counters are read before the
// messages: a change in between is read again by the next load, which
// is harmless (load is idempotent), while the other order could miss it.
func openView(ctx context.Context, db *store.DB, f store.MailFolder, readOnly bool) (*selected, error) {
	seen, err := db.LocalMailCountersOf(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	msgs, err := db.LocalMailMessages(ctx, f.ID)
	if err != nil {
		return nil, err
	}
	return &selected{folder: f, msgs: msgs, seen: seen, readOnly: readOnly}, nil
}

// find returns the index of the message with local UID uid.
func (sel *selected) find(uid uint32) (int, bool) {
	return slices.BinarySearchFunc(sel.msgs, uid, func(m store.LocalMail, uid uint32) int {
		switch {
		case m.LocalUID < uid:
			return -1
		case m.LocalUID > uid:
			return 1
		}
		return 0
	})
}

func (sel *selected) lastUID() uint32 {
	if len(sel.msgs) == 0 {
		return 0
	}
	return sel.msgs[len(sel.msgs)-1].LocalUID
}

// isGone reports whether a message of the view has left the folder
// (its EXPUNGE pending).
func (sel *selected) isGone(m store.LocalMail) bool { return sel.gone[m.LocalUID] }

// markGone records that the message with local UID uid left the folder;
// its EXPUNGE goes out with the next report that allows one. A write of
// the session itself (EXPUNGE, MOVE) calls it for the messages it
// removed, then writeExpunges.
func (sel *selected) markGone(uid uint32) {
	if _, ok := sel.find(uid); !ok {
		return
	}
	if sel.gone == nil {
		sel.gone = map[uint32]bool{}
	}
	sel.gone[uid] = true
}

// update replaces the view's copy of a message after a change the
// session made itself, so the next report does not echo it.
func (sel *selected) update(m store.LocalMail) {
	if i, ok := sel.find(m.LocalUID); ok && !sel.gone[m.LocalUID] {
		sel.msgs[i] = m
	}
}

// load reads what changed in the folder since the view's counters: the
// changed rows only, and the UID list only when a message left the
// folder. An unchanged folder costs one primary-key read. Load never
// renumbers: it marks messages gone, updates flags and appends new
// messages, so it may run while EXPUNGE responses are not allowed.
func (sel *selected) load(ctx context.Context, db *store.DB) error {
	now, err := db.LocalMailCountersOf(ctx, sel.folder.ID)
	if errors.Is(err, store.ErrNotFound) {
		// The folder itself is gone (deleted on the server): the client
		// sees it empty, and its next SELECT says NONEXISTENT.
		for _, m := range sel.msgs {
			sel.markGone(m.LocalUID)
		}
		return nil
	}
	if err != nil || now == sel.seen {
		return err
	}
	last := sel.lastUID()
	if now.Removed != sel.seen.Removed {
		shown, err := db.LocalMailUIDs(ctx, sel.folder.ID, last)
		if err != nil {
			return err
		}
		for _, m := range sel.msgs {
			if _, ok := slices.BinarySearch(shown, m.LocalUID); !ok {
				sel.markGone(m.LocalUID)
			}
		}
	}
	changed, err := db.LocalMailChangedSince(ctx, sel.folder.ID, sel.seen.ModSeq)
	if err != nil {
		return err
	}
	for _, m := range changed {
		i, known := sel.find(m.LocalUID)
		switch {
		case known && m.Deleted:
			sel.markGone(m.LocalUID)
		case known && !sel.gone[m.LocalUID]:
			if !sameFlags(sel.msgs[i].Flags, m.Flags) && !slices.Contains(sel.flagged, m.LocalUID) {
				sel.flagged = append(sel.flagged, m.LocalUID)
			}
			sel.msgs[i] = m
		case !known && !m.Deleted && m.LocalUID > sel.lastUID():
			sel.msgs = append(sel.msgs, m)
			sel.grew = true
		}
		// Otherwise a UID at or below the last one the client knows, not
		// in its view: it cannot be shown without breaking the order of
		// UIDs (the schema gives a message shown again a new UID, so this
		// is a row read twice across a change, or one hidden again).
	}
	sel.seen = now
	return nil
}

// updates is what report writes through: imapserver's UpdateWriter.
type updates interface {
	WriteExpunge(seqNum uint32) error
	WriteNumMessages(n uint32) error
	WriteMessageFlags(seqNum uint32, uid imap.UID, flags []imap.Flag) error
}

// report writes what load found: EXPUNGE for the messages gone (only
// when allowExpunge: never during FETCH, STORE or SEARCH by sequence
// number, RFC 9051 7.5.1), FETCH FLAGS for changed flags, EXISTS when
// messages were appended. Sequence numbers are the view's at the moment
// each response is written.
func (sel *selected) report(w updates, allowExpunge bool) error {
	if allowExpunge {
		if err := sel.writeExpunges(w.WriteExpunge); err != nil {
			return err
		}
	}
	for _, uid := range sel.flagged {
		i, ok := sel.find(uid)
		if !ok || sel.gone[uid] {
			continue
		}
		if err := w.WriteMessageFlags(uint32(i)+1, imap.UID(uid), imapFlags(sel.msgs[i].Flags)); err != nil {
			return err
		}
	}
	sel.flagged = sel.flagged[:0]
	if sel.grew {
		sel.grew = false
		if err := w.WriteNumMessages(uint32(len(sel.msgs))); err != nil {
			return err
		}
	}
	return nil
}

// writeExpunges removes the gone messages from the view, writing one
// EXPUNGE each: from the highest sequence number down, so each number
// written is the one the client has for that message at that moment.
func (sel *selected) writeExpunges(write func(seqNum uint32) error) error {
	if len(sel.gone) == 0 {
		return nil
	}
	for i := len(sel.msgs) - 1; i >= 0; i-- {
		if !sel.gone[sel.msgs[i].LocalUID] {
			continue
		}
		sel.msgs = slices.Delete(sel.msgs, i, i+1)
		if err := write(uint32(i) + 1); err != nil {
			return err
		}
	}
	sel.gone = nil
	return nil
}

// expungeNow brings the view up to date and writes an EXPUNGE for every
// message gone, through write (an ExpungeWriter's or MoveWriter's
// WriteExpunge): what a session's own EXPUNGE or MOVE calls after its
// change committed. Flag changes and new messages found on the way go
// out with the poll that ends the command.
func (ss *session) expungeNow(write func(seqNum uint32) error) error {
	if ss.sel == nil {
		return nil
	}
	if err := ss.sel.load(ss.s.base, ss.s.opts.DB); err != nil {
		return ss.local("read folder changes", err)
	}
	return ss.sel.writeExpunges(write)
}

// sameFlags compares two flag lists as sets, without case.
func sameFlags(a, b []string) bool {
	add, remove := diffFlags(a, b)
	return len(add) == 0 && len(remove) == 0
}
