package mailsync

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// unchanged reports whether SELECT or STATUS proves the folder has not
// changed since the last complete sync. Without CONDSTORE a flag change leaves no trace
// there, so the folder is never skipped.
func unchanged(f store.MailFolder, st hsync.FolderState, caps hsync.MailCaps) bool {
	return caps.CondStore && settled(f, st) && st.HighestModSeq == f.HighestModSeq
}

func (e *Engine) syncFolder(ctx context.Context, r hsync.MailRemote, f store.MailFolder) (Stats, error) {
	st, _, err := e.syncFolderAt(ctx, r, f)
	return st, err
}

// syncFolderAt syncs a folder and returns also the state SELECT reported
// at the start of the pass: what the mirror equals once the pass is done.
func (e *Engine) syncFolderAt(ctx context.Context, r hsync.MailRemote, f store.MailFolder) (Stats, hsync.FolderState, error) {
	var st Stats
	caps := r.Caps()
	// SELECT rather than trusting an earlier STATUS: it is current, and
	// the folder must be selected for the rest anyway. (Dovecot's STATUS
	// of the folder a session has selected is that session's stale view:
	// the connector leaves the folder before asking; see
	// TestStatusOfSelectedFolderIsCurrent.)
	var sel hsync.FolderState
	var early *earlyListing
	var err error
	if cl, ok := r.(hsync.MailChangeLister); ok && caps.CondStore && f.UIDValidity != 0 && f.HighestModSeq != 0 {
		sel, early, err = e.selectChanges(ctx, cl, f)
	} else {
		sel, err = r.Select(ctx, f.Name)
	}
	if err != nil {
		return st, sel, err
	}
	if unchanged(f, sel, caps) {
		unknown, err := e.opts.DB.MailUIDsFlagsUnknown(ctx, f.ID)
		if err != nil {
			return st, sel, err
		}
		if len(unknown) == 0 {
			st.Skipped++
			return st, sel, nil
		}
		// A replayed move recorded a message here after the pass that
		// saw it arrive: its flags are still to be read.
	}
	st.Folders++
	fullFlags := !caps.CondStore || f.HighestModSeq == 0
	var d listing
	var known *knownFlags
	switch {
	case f.UIDValidity == 0: // never listed
		d, err = e.compareAll(ctx, r, f)
	case sel.UIDValidity != f.UIDValidity:
		if err := e.reidentify(ctx, r, f, sel.UIDValidity, &st); err != nil {
			return st, sel, err
		}
		st.UIDValidityResets++
		fullFlags = true
		d, err = e.compareAll(ctx, r, f)
	default:
		d, err = e.listAbove(ctx, r, f, sel, early)
		if early != nil {
			known = early.flags
		}
	}
	if err != nil {
		return st, sel, err
	}
	rec, err := e.applyListing(ctx, r, f, sel, d, fullFlags, known, &st)
	if err != nil {
		return st, sel, err
	}
	if d.shielded {
		// A message gone from the server stays until its replay settles
		// (notMoving): the mirror is not yet what SELECT described, so the
		// recorded count must not let the next pass skip the folder.
		rec.Messages = notSettled
	}
	return st, sel, e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetMailFolderState(ctx, f.ID, store.FolderSyncState{
			UIDValidity: rec.UIDValidity, UIDNext: rec.UIDNext, HighestModSeq: rec.HighestModSeq,
			Messages: rec.Messages, SyncedUID: d.watermark(rec),
		})
	})
}

// listing is what a pass learned by listing a folder's UIDs: what to
// fetch, what is gone, and the highest UID the listing saw.
type listing struct {
	missing, gone []uint32
	maxListed     uint32
	shielded      bool // some gone UIDs were kept for a replay in flight
}

// notSettled is the message count recorded for a folder whose pass kept
// a message the server no longer lists (its move is being replayed): no
// server reports it, so the next pass never skips the folder.
const notSettled = math.MaxUint32

// watermark is the folder's new listing watermark once the listing is
// applied: every UID below SELECT's UIDNEXT existed before the listing
// and was in it if still there; above that, the listing's highest.
func (d listing) watermark(sel hsync.FolderState) uint32 {
	return max(d.maxListed, sel.UIDNext-min(sel.UIDNext, 1))
}

// applyListing removes what is gone, reads changed flags and fetches
// what is missing. It returns the folder state to record: SELECT's, with
// HIGHESTMODSEQ held below a flag change it had to leave for later.
// known, when set, holds the flag changes read with the listing.
func (e *Engine) applyListing(ctx context.Context, r hsync.MailRemote, f store.MailFolder, sel hsync.FolderState, d listing, fullFlags bool, known *knownFlags, st *Stats) (hsync.FolderState, error) {
	if len(d.gone) > 0 {
		err := e.opts.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteMailMessages(ctx, f.ID, d.gone) })
		if err != nil {
			return sel, err
		}
		st.Expunged += len(d.gone)
	}
	// Flags of messages we already have; new ones come with their own.
	if sel.Messages > uint32(len(d.missing)) {
		n, held, err := e.syncFlags(ctx, r, f, fullFlags, known)
		if err != nil {
			return sel, err
		}
		st.FlagChanges += n
		if held > 0 {
			sel.HighestModSeq = min(sel.HighestModSeq, held-1)
		}
	}
	return sel, e.fetchNew(ctx, r, f, sel.UIDValidity, d.missing, st)
}

// listAbove is the incremental listing of a folder whose UIDVALIDITY is
// unchanged. The rule, and why it cannot miss a change:
//
// Let W be the folder's listing watermark (SyncedUID). The last complete
// pass stored exactly the server's UIDs up to W as its listing saw them.
// UIDs only grow, so a message can never appear at or below W later: an
// arrival, another client's move in, or our own replayed move gets a UID
// at or above UIDNEXT, which was above W. Below W the server's set can
// therefore only shrink. The stored set below W changes only when a
// replay moves or deletes a message, which the server did too. So the
// stored set below W is a superset of the server's, and the two are equal
// exactly when their counts are. The server's count below W is SELECT's
// EXISTS minus the UIDs it lists above W.
//
// Above W everything is compared UID by UID: the server's UIDs there
// against the stored ones (rows a replayed move recorded through COPYUID
// live there too, and may have been expunged since). When the counts
// below W differ, something at or below W was expunged, and the whole
// folder is compared instead (compareAll).
//
// The stored side is read before the server is listed, so a replay that
// commits in between is seen as new on the server (and found stored by
// its UID when fetched) rather than as gone.
//
// early, when set, is the stored side and the listing already read in
// the SELECT's round trip (selectChanges), in that order.
func (e *Engine) listAbove(ctx context.Context, r hsync.MailRemote, f store.MailFolder, sel hsync.FolderState, early *earlyListing) (listing, error) {
	var localBelow int
	var localAbove, serverAbove []uint32
	if early != nil {
		localBelow, localAbove, serverAbove = early.localBelow, early.localAbove, early.serverAbove
	} else {
		var err error
		if localBelow, localAbove, err = e.opts.DB.MailUIDsAbove(ctx, f.ID, f.SyncedUID); err != nil {
			return listing{}, err
		}
		if serverAbove, err = r.UIDsFrom(ctx, f.SyncedUID+1); err != nil {
			return listing{}, err
		}
		slices.Sort(serverAbove)
	}
	if int(sel.Messages)-len(serverAbove) != localBelow {
		return e.compareAll(ctx, r, f)
	}
	d := listing{missing: difference(serverAbove, localAbove)}
	if len(serverAbove) > 0 {
		d.maxListed = serverAbove[len(serverAbove)-1]
	}
	err := e.notMoving(ctx, f, &d, difference(localAbove, serverAbove))
	return d, err
}

// compareAll lists every UID of the folder and compares it with the
// store: on the first pass, after a UIDVALIDITY change, and whenever the
// counts show that something at or below the watermark was expunged.
func (e *Engine) compareAll(ctx context.Context, r hsync.MailRemote, f store.MailFolder) (listing, error) {
	// Stored side first: see listAbove.
	localUIDs, err := e.opts.DB.MailUIDs(ctx, f.ID)
	if err != nil {
		return listing{}, err
	}
	serverUIDs, err := r.UIDs(ctx)
	if err != nil {
		return listing{}, err
	}
	slices.Sort(serverUIDs)
	d := listing{missing: difference(serverUIDs, localUIDs)}
	if len(serverUIDs) > 0 {
		d.maxListed = serverUIDs[len(serverUIDs)-1]
	}
	err = e.notMoving(ctx, f, &d, difference(localUIDs, serverUIDs))
	return d, err
}

// notMoving leaves out of gone the messages whose move or deletion is
// being replayed: they leave the folder on the server before the replay's
// outcome is recorded, and the outbox, not this pass, decides where they
// are.
func (e *Engine) notMoving(ctx context.Context, f store.MailFolder, d *listing, gone []uint32) error {
	if len(gone) == 0 {
		return nil
	}
	moving, err := e.opts.DB.PendingActionUIDs(ctx, f.ID, []string{"mail.move", "mail.delete"})
	if err != nil {
		return err
	}
	n := len(gone)
	d.gone = slices.DeleteFunc(gone, func(u uint32) bool { return moving[u] })
	d.shielded = len(d.gone) < n
	return nil
}

// syncFlags applies the server's flags to stored messages: only those
// changed since the recorded HIGHESTMODSEQ with CONDSTORE, all of them
// otherwise. It returns how many messages changed, and the lowest MODSEQ
// it had to leave unread (0 when none): the folder's recorded
// HIGHESTMODSEQ must stay below it.
func (e *Engine) syncFlags(ctx context.Context, r hsync.MailRemote, f store.MailFolder, full bool, known *knownFlags) (changed int, held uint64, err error) {
	// A local flag change still queued wins until it is replayed. Its
	// replay may already have reached the server (a MODSEQ this pass
	// sees) while the outbox has not recorded it: the message's flags are
	// then read again by the next pass, because the recorded
	// HIGHESTMODSEQ is held below the skipped MODSEQ. So the queue is
	// read before the server's flags are asked for (selectChanges does so
	// too).
	var queued map[uint32]bool
	var server []hsync.FlagChange
	if known != nil {
		queued, server = known.queued, known.changes
	} else {
		queued, err = e.opts.DB.PendingActionUIDs(ctx, f.ID, []string{"mail.flags"})
		if err != nil {
			return 0, 0, err
		}
		since := f.HighestModSeq
		if full {
			since = 0
		}
		err = r.FlagsChangedSince(ctx, since, func(c hsync.FlagChange) error {
			server = append(server, c)
			return nil
		})
	}
	if err != nil {
		return 0, 0, err
	}
	var reported []hsync.FlagChange
	for _, c := range server {
		if !queued[c.UID] {
			reported = append(reported, c)
		} else if c.ModSeq > 0 && (held == 0 || c.ModSeq < held) {
			held = c.ModSeq
		}
	}
	// With CONDSTORE, messages a replayed move placed here have flags no
	// CHANGEDSINCE reports: read those few directly, and record them even
	// when equal (their MODSEQ makes them known).
	adopt := map[uint32]bool{}
	if !full {
		unknown, err := e.opts.DB.MailUIDsFlagsUnknown(ctx, f.ID)
		if err != nil {
			return 0, held, err
		}
		unknown = slices.DeleteFunc(unknown, func(u uint32) bool { return queued[u] })
		err = r.FetchMeta(ctx, unknown, func(m hsync.MessageMeta) error {
			adopt[m.UID] = true
			reported = append(reported, hsync.FlagChange{UID: m.UID, Flags: m.Flags, ModSeq: max(m.ModSeq, 1)})
			return nil
		})
		if err != nil {
			return 0, held, err
		}
	}
	if len(reported) == 0 {
		return 0, held, nil
	}
	// Read back only what the server reported (all of it without
	// CONDSTORE, a few with it).
	uids := make([]uint32, len(reported))
	for i, c := range reported {
		uids[i] = c.UID
	}
	stored, err := e.opts.DB.MailFlagsOf(ctx, f.ID, uids)
	if err != nil {
		return 0, held, err
	}
	var changes, writes []hsync.FlagChange
	for _, c := range reported {
		old, ok := stored[c.UID]
		if !ok {
			continue
		}
		if old != store.JoinFlags(c.Flags) {
			changes = append(changes, c)
			writes = append(writes, c)
		} else if adopt[c.UID] {
			writes = append(writes, c)
		}
	}
	if len(writes) == 0 {
		return 0, held, nil
	}
	err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		for _, c := range writes {
			if _, err := tx.SetMailFlags(ctx, f.ID, c.UID, c.Flags, c.ModSeq); err != nil {
				return err
			}
		}
		return nil
	})
	return len(changes), held, err
}

// reidentify maps stored messages to the UIDs of a folder whose
// UIDVALIDITY changed, by Message-ID, size and internal date. Matched
// messages keep their rows and bodies under the new UID; stored messages
// the server no longer has are removed (their bodies stay until the end
// of the pass, so a message that moved elsewhere is not downloaded again).
func (e *Engine) reidentify(ctx context.Context, r hsync.MailRemote, f store.MailFolder, validity uint32, st *Stats) error {
	e.log.Info("UIDVALIDITY changed; re-identifying stored messages", "folder", f.Name, "old", f.UIDValidity, "new", validity)
	serverUIDs, err := r.UIDs(ctx)
	if err != nil {
		return err
	}
	slices.Sort(serverUIDs)
	local, err := e.opts.DB.MailMessagesForMatching(ctx, f.ID)
	if err != nil {
		return err
	}
	type key struct {
		msgID string
		size  int64
		date  int64
	}
	byKey := map[key][]int64{}
	for _, m := range local {
		k := key{m.MessageID, m.Size, m.InternalDate.UnixMilli()}
		byKey[k] = append(byKey[k], m.ID)
	}
	renumber := map[int64]uint32{}
	for chunk := range slices.Chunk(serverUIDs, 1000) {
		err := r.FetchMeta(ctx, chunk, func(m hsync.MessageMeta) error {
			k := key{m.MessageID, m.Size, m.InternalDate.UnixMilli()}
			if ids := byKey[k]; len(ids) > 0 {
				renumber[ids[0]] = m.UID
				byKey[k] = ids[1:]
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	var drop []int64
	for _, m := range local {
		if _, ok := renumber[m.ID]; !ok {
			drop = append(drop, m.ID)
		}
	}
	err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteMailMessagesByID(ctx, drop); err != nil {
			return err
		}
		// Two passes so a new UID never collides with an old one.
		for id := range renumber {
			if err := tx.SetMailUID(ctx, id, uint32(0x80000000)|uint32(id)); err != nil {
				return err
			}
		}
		for id, uid := range renumber {
			if err := tx.SetMailUID(ctx, id, uid); err != nil {
				return err
			}
		}
		return tx.SetMailFolderState(ctx, f.ID, store.FolderSyncState{UIDValidity: validity})
	})
	if err != nil {
		return fmt.Errorf("re-identify %s: %w", f.Name, err)
	}
	st.Expunged += len(drop)
	return nil
}

// difference returns the sorted elements of a that are not in b (both
// sorted).
func difference(a, b []uint32) []uint32 {
	var out []uint32
	j := 0
	for _, x := range a {
		for j < len(b) && b[j] < x {
			j++
		}
		if j < len(b) && b[j] == x {
			continue
		}
		out = append(out, x)
	}
	return out
}
