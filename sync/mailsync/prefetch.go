package mailsync

import (
	"context"
	"slices"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// earlyListing is what one round trip tells of a changed folder when the
// remote can pipeline (sync.MailChangeLister): SELECT, the UIDs above the
// listing watermark and the flags changed since the recorded
// HIGHESTMODSEQ, asked together. Over a 50 ms link, 100 flag changes and
// 100 new messages in six folders took 1.71 s with a round trip per
// command (mbsync: 1.37 s).
//
// The orders the engine relies on are kept: the stored side of the
// listing (listAbove) and the queued local flag changes (syncFlags) are
// read before the server is asked.
type earlyListing struct {
	localBelow  int
	localAbove  []uint32
	serverAbove []uint32 // sorted
	flags       *knownFlags
}

// knownFlags are a folder's queued local flag changes and the server's
// flag changes, read in that order.
type knownFlags struct {
	queued  map[uint32]bool
	changes []hsync.FlagChange
}

// selectChanges selects f and reads its news in one round trip.
func (e *Engine) selectChanges(ctx context.Context, r hsync.MailChangeLister, f store.MailFolder) (hsync.FolderState, *earlyListing, error) {
	var el earlyListing
	var err error
	if el.localBelow, el.localAbove, err = e.opts.DB.MailUIDsAbove(ctx, f.ID, f.SyncedUID); err != nil {
		return hsync.FolderState{}, nil, err
	}
	queued, err := e.opts.DB.PendingActionUIDs(ctx, f.ID, []string{"mail.flags"})
	if err != nil {
		return hsync.FolderState{}, nil, err
	}
	sel, above, changes, err := r.SelectChanges(ctx, f.Name, f.SyncedUID+1, f.HighestModSeq)
	if err != nil {
		return sel, nil, err
	}
	slices.Sort(above)
	el.serverAbove = above
	el.flags = &knownFlags{queued: queued, changes: changes}
	return sel, &el, nil
}
