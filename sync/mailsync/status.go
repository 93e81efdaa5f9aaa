package mailsync

import (
	"context"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// passScope says which folders a pass syncs, given their status.
type passScope int

const (
	// everyFolder: all but those the status proves unchanged (SyncOnce).
	everyFolder passScope = iota
	// changedFolders: those whose status shows a change (SyncChanged).
	changedFolders
)

// settled reports whether a folder's status shows no message arrived or
// left since the last complete pass: same UIDVALIDITY, UIDNEXT and
// message count, and that pass listed everything below UIDNEXT. An
// arrival moves UIDNEXT; an expunge alone lowers the count.
func settled(f store.MailFolder, st hsync.FolderState) bool {
	return f.SyncedAt.Unix() > 0 &&
		st.UIDValidity == f.UIDValidity && st.UIDNext == f.UIDNext &&
		st.Messages == f.Messages && f.SyncedUID+1 >= f.UIDNext
}

// skips reports whether the scope leaves the folder out, by its status
// alone. Only with CONDSTORE can a status (HIGHESTMODSEQ) show a flag
// change, so SyncOnce skips nothing without it.
func (s passScope) skips(f store.MailFolder, st hsync.FolderState, caps hsync.MailCaps) bool {
	if s == everyFolder {
		return unchanged(f, st, caps)
	}
	return settled(f, st) && (!caps.CondStore || st.HighestModSeq == f.HighestModSeq)
}

// needsStatus reports whether asking the server for folder states can
// save this scope any SELECT.
func (s passScope) needsStatus(caps hsync.MailCaps) bool {
	return s == changedFolders || caps.CondStore
}

// toSync returns the folders a pass must select, in order, counting the
// others as skipped. The states come from the listing (LIST-STATUS) or,
// where it did not carry them, from STATUS commands sent together: one
// round trip for the whole account either way. A folder without a state
// is synced.
func (e *Engine) toSync(ctx context.Context, r hsync.MailRemote, scope passScope, folders []store.MailFolder, listed map[string]hsync.FolderState, st *Stats) ([]store.MailFolder, error) {
	caps := r.Caps()
	if !scope.needsStatus(caps) {
		return folders, nil
	}
	var ask []string
	for _, f := range folders {
		// A folder never synced has nothing to compare with.
		if _, ok := listed[f.Name]; !ok && f.SyncedAt.Unix() > 0 {
			ask = append(ask, f.Name)
		}
	}
	if len(ask) > 0 {
		more, err := r.FolderStates(ctx, ask)
		if err != nil {
			return nil, err
		}
		for name, s := range more {
			listed[name] = s
		}
	}
	var out []store.MailFolder
	for _, f := range folders {
		s, ok := listed[f.Name]
		if !ok || !scope.skips(f, s, caps) {
			out = append(out, f)
			continue
		}
		if caps.CondStore {
			// A replayed move may have recorded a message here whose
			// flags are still to be read (syncFlags adopts them; without
			// CONDSTORE every MODSEQ is 0 and flags wait for SyncOnce).
			unknown, err := e.opts.DB.MailUIDsFlagsUnknown(ctx, f.ID)
			if err != nil {
				return nil, err
			}
			if len(unknown) > 0 {
				out = append(out, f)
				continue
			}
		}
		st.Skipped++
	}
	return out, nil
}

// mirrored reports whether the filter selects a folder that is not
// stored yet (named by a NOTIFY event, which carries no delimiter: the
// stored folders' one is used).
func (e *Engine) mirrored(name string, stored []store.MailFolder) bool {
	delim := ""
	for _, f := range stored {
		if f.Delimiter != "" {
			delim = f.Delimiter
			break
		}
	}
	return e.opts.Filter.Match(name, delim)
}
