package mailsync

import (
	"context"
	"fmt"
	"slices"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// unchanged reports whether SELECT proves the folder has not changed since
// the last complete sync. Without CONDSTORE a flag change leaves no trace
// there, so the folder is never skipped.
func unchanged(f store.MailFolder, st hsync.FolderState, caps hsync.MailCaps) bool {
	return caps.CondStore && f.SyncedAt.Unix() > 0 &&
		st.UIDValidity == f.UIDValidity && st.UIDNext == f.UIDNext &&
		st.Messages == f.Messages && st.HighestModSeq == f.HighestModSeq &&
		f.SyncedUID+1 >= f.UIDNext
}

func (e *Engine) syncFolder(ctx context.Context, r hsync.MailRemote, f store.MailFolder) (Stats, error) {
	var st Stats
	caps := r.Caps()
	// SELECT rather than STATUS: Dovecot answered STATUS on a long-lived
	// session with a HIGHESTMODSEQ that missed another session's flag
	// change (seen in TestFlagDeltasMergeWithServerChanges); SELECT is
	// always current and costs the same single round trip.
	sel, err := r.Select(ctx, f.Name)
	if err != nil {
		return st, err
	}
	if unchanged(f, sel, caps) {
		st.Skipped++
		return st, nil
	}
	st.Folders++
	localCount, maxLocal, err := e.opts.DB.MailCount(ctx, f.ID)
	if err != nil {
		return st, err
	}
	fullFlags := !caps.CondStore || f.HighestModSeq == 0
	var missing, gone []uint32
	listed := false
	if f.UIDValidity != 0 && sel.UIDValidity == f.UIDValidity {
		// The common case, new mail: list only the UIDs above the stored
		// ones. If the counts then add up, nothing was expunged, and the
		// folder's full UID list need not be compared.
		newUIDs, err := r.UIDsFrom(ctx, maxLocal+1)
		if err != nil {
			return st, err
		}
		if localCount+len(newUIDs) == int(sel.Messages) {
			missing, listed = newUIDs, true
		}
	}
	if !listed {
		if missing, gone, err = e.compareAll(ctx, r, f, sel, &st); err != nil {
			return st, err
		}
		if st.UIDValidityResets > 0 {
			fullFlags = true
		}
	}
	if len(gone) > 0 {
		err := e.opts.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteMailMessages(ctx, f.ID, gone) })
		if err != nil {
			return st, err
		}
		st.Expunged += len(gone)
	}

	// Flags of messages we already have; new ones come with their own.
	if localCount > len(gone) {
		n, err := e.syncFlags(ctx, r, f, fullFlags)
		if err != nil {
			return st, err
		}
		st.FlagChanges += n
	}

	if err := e.fetchNew(ctx, r, f, missing, &st); err != nil {
		return st, err
	}

	_, syncedUID, err := e.opts.DB.MailCount(ctx, f.ID)
	if err != nil {
		return st, err
	}
	err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetMailFolderState(ctx, f.ID, store.FolderSyncState{
			UIDValidity: sel.UIDValidity, UIDNext: sel.UIDNext, HighestModSeq: sel.HighestModSeq,
			Messages: sel.Messages, SyncedUID: syncedUID,
		})
	})
	return st, err
}

// compareAll lists every UID of the folder and compares it with the
// store: after a UIDVALIDITY change (re-identifying the messages), and
// whenever the counts show that something was expunged. It returns the
// UIDs to fetch and the ones gone from the server.
func (e *Engine) compareAll(ctx context.Context, r hsync.MailRemote, f store.MailFolder, sel hsync.FolderState, st *Stats) (missing, gone []uint32, err error) {
	serverUIDs, err := r.UIDs(ctx)
	if err != nil {
		return nil, nil, err
	}
	slices.Sort(serverUIDs)
	if f.UIDValidity != 0 && sel.UIDValidity != f.UIDValidity {
		e.log.Info("UIDVALIDITY changed; re-identifying stored messages", "folder", f.Name, "old", f.UIDValidity, "new", sel.UIDValidity)
		if err := e.reidentify(ctx, r, f, sel.UIDValidity, serverUIDs, st); err != nil {
			return nil, nil, err
		}
		st.UIDValidityResets++
	}
	localUIDs, err := e.opts.DB.MailUIDs(ctx, f.ID)
	if err != nil {
		return nil, nil, err
	}
	gone = difference(localUIDs, serverUIDs)
	if len(gone) > 0 {
		// A message whose move or deletion is being replayed leaves the
		// folder before the replay's outcome is recorded: the outbox, not
		// this pass, decides where it is.
		moving, err := e.opts.DB.PendingActionUIDs(ctx, f.ID, []string{"mail.move", "mail.delete"})
		if err != nil {
			return nil, nil, err
		}
		gone = slices.DeleteFunc(gone, func(u uint32) bool { return moving[u] })
	}
	return difference(serverUIDs, localUIDs), gone, nil
}

// syncFlags applies the server's flags to stored messages: only those
// changed since the recorded HIGHESTMODSEQ with CONDSTORE, all of them
// otherwise. It returns how many messages changed.
func (e *Engine) syncFlags(ctx context.Context, r hsync.MailRemote, f store.MailFolder, full bool) (int, error) {

	// A local flag change still queued wins until it is replayed (then
	// the server's MODSEQ moves and the next pass reads the merged flags).
	queued, err := e.opts.DB.PendingActionUIDs(ctx, f.ID, []string{"mail.flags"})
	if err != nil {
		return 0, err
	}
	since := f.HighestModSeq
	if full {
		since = 0
	}
	var reported []hsync.FlagChange
	err = r.FlagsChangedSince(ctx, since, func(c hsync.FlagChange) error {
		if !queued[c.UID] {
			reported = append(reported, c)
		}
		return nil
	})
	if err != nil || len(reported) == 0 {
		return 0, err
	}
	// Read back only what the server reported (all of it without
	// CONDSTORE, a few with it).
	uids := make([]uint32, len(reported))
	for i, c := range reported {
		uids[i] = c.UID
	}
	stored, err := e.opts.DB.MailFlagsOf(ctx, f.ID, uids)
	if err != nil {
		return 0, err
	}
	var changes []hsync.FlagChange
	for _, c := range reported {
		if old, ok := stored[c.UID]; ok && old != store.JoinFlags(c.Flags) {
			changes = append(changes, c)
		}
	}
	if len(changes) == 0 {
		return 0, nil
	}
	err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		for _, c := range changes {
			if _, err := tx.SetMailFlags(ctx, f.ID, c.UID, c.Flags, c.ModSeq); err != nil {
				return err
			}
		}
		return nil
	})
	return len(changes), err
}

// reidentify maps stored messages to the UIDs of a folder whose
// UIDVALIDITY changed, by Message-ID, size and internal date. Matched
// messages keep their rows and bodies under the new UID; stored messages
// the server no longer has are removed (their bodies stay until the end
// of the pass, so a message that moved elsewhere is not downloaded again).
func (e *Engine) reidentify(ctx context.Context, r hsync.MailRemote, f store.MailFolder, validity uint32, serverUIDs []uint32, st *Stats) error {
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
