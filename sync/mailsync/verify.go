package mailsync

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// Verification compares a folder's full UID set and every message's
// flags with the server, right after a normal pass of that folder. The
// incremental rule (see listAbove) should make a difference impossible, so
// any difference found is a bug: it is logged as one, with counts, and
// repaired when asked.
//
// A difference caused by another client acting while the comparison runs
// is not a divergence: the folder's state (UIDNEXT, EXISTS, and with
// CONDSTORE HIGHESTMODSEQ) is read after the pass and again after the
// listing, and the comparison counts only when both equal what the pass
// saw; otherwise it is retried a few times, then reported as busy.
// Without CONDSTORE a flag change leaves no trace in that state, so a
// flag difference is compared again after another pass (which reads every
// flag) rather than reported.
// Messages with an unfinished local action are left out, as in a pass.

// VerifyMode says what Verify does with a divergence.
type VerifyMode int

const (
	// CheckOnly reports divergences and changes nothing but what a normal
	// pass does.
	CheckOnly VerifyMode = iota
	// Repair makes the mirror equal to the server: ghosts removed,
	// missing messages fetched (bodies reused when stored), flags set.
	Repair
)

// Divergence is how one folder of the mirror differed from the server.
type Divergence struct {
	Folder      string `json:"folder"`
	Missing     int    `json:"missing"`      // on the server, not in the mirror
	Ghosts      int    `json:"ghosts"`       // in the mirror, not on the server
	FlagsDiffer int    `json:"flags_differ"` // in both, with other flags
}

func (d Divergence) any() bool { return d.Missing+d.Ghosts+d.FlagsDiffer > 0 }

// VerifyReport is the outcome of Verify for one account.
type VerifyReport struct {
	Folders     int          `json:"folders"`  // compared
	Messages    int          `json:"messages"` // on the server in those folders
	Busy        []string     `json:"busy,omitempty"`
	Divergences []Divergence `json:"divergences,omitempty"`
	Repaired    bool         `json:"repaired"`
	Sync        Stats        `json:"sync"` // what the normal passes did first
}

// verifyAttempts bounds the retries of a folder that keeps changing.
const verifyAttempts = 3

// Verify runs a normal pass of every folder, then compares each with the
// server in full (see the comment above VerifyMode).
func (e *Engine) Verify(ctx context.Context, mode VerifyMode) (VerifyReport, error) {
	defer e.closeLanes()
	rep := VerifyReport{Repaired: mode == Repair}
	r, err := e.session(ctx)
	if err != nil {
		return rep, err
	}
	folders, _, err := e.syncFolderList(ctx, r, &rep.Sync)
	if err != nil {
		return rep, e.fail(err)
	}
	removed := false
	for _, f := range folders {
		d, n, busy, err := e.verifyFolder(ctx, r, f, mode, &rep.Sync)
		if err != nil {
			if ctx.Err() != nil || hsync.KindOf(err) != hsync.Permanent {
				return rep, e.fail(fmt.Errorf("verify %s: %w", f.Name, err))
			}
			e.log.Warn("folder not verified", "folder", f.Name, "err", err)
			continue
		}
		if busy {
			rep.Busy = append(rep.Busy, f.Name)
			continue
		}
		rep.Folders++
		rep.Messages += n
		if d.any() {
			rep.Divergences = append(rep.Divergences, d)
			removed = removed || (mode == Repair && d.Ghosts > 0)
			e.log.Warn("the mirror diverged from the server: this is a bug in holdover, please report it",
				"folder", f.Name, "missing", d.Missing, "ghosts", d.Ghosts, "flags_differ", d.FlagsDiffer, "repaired", mode == Repair)
		}
	}
	if removed || rep.Sync.Expunged+rep.Sync.FoldersRemoved+rep.Sync.UIDValidityResets > 0 {
		err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.GCMailBodies(ctx, e.opts.Account)
			return err
		})
	}
	return rep, err
}

// verifyFolder passes over one folder and compares it in full. busy
// reports a folder that changed on the server during every attempt.
func (e *Engine) verifyFolder(ctx context.Context, r hsync.MailRemote, f store.MailFolder, mode VerifyMode, sync *Stats) (d Divergence, messages int, busy bool, err error) {
	d.Folder = f.Name
	for attempt := 0; attempt < verifyAttempts; attempt++ {
		st, passSel, err := e.syncFolderAt(ctx, r, f)
		sync.add(st)
		if err != nil {
			return d, 0, false, err
		}
		if f, err = e.opts.DB.MailFolderByID(ctx, f.ID); err != nil {
			return d, 0, false, err
		}
		if f.HighestModSeq != passSel.HighestModSeq {
			// The pass left flags of a change being replayed for the next
			// one (see syncFlags): not complete yet.
			continue
		}
		cmp, ok, err := e.compareFolder(ctx, r, f, passSel)
		if err != nil {
			return d, 0, false, err
		}
		if !ok {
			continue // changed meanwhile: the next attempt's pass catches up first
		}
		d.Missing, d.Ghosts, d.FlagsDiffer = len(cmp.missing), len(cmp.ghosts), len(cmp.flags)
		if mode == Repair && d.any() {
			var fs Stats
			if err := e.repair(ctx, r, f, cmp, &fs); err != nil {
				return d, 0, false, err
			}
		}
		if mode == Repair || !d.any() {
			err = e.opts.DB.Write(ctx, func(tx *store.Tx) error { return tx.SetMailFolderVerified(ctx, f.ID) })
		}
		return d, cmp.serverCount, false, err
	}
	return d, 0, true, nil
}

// comparison is what compareFolder found.
type comparison struct {
	missing     []uint32
	ghosts      []uint32
	flags       []hsync.FlagChange // the server's flags where they differ
	serverCount int
}

// compareFolder compares the selected folder in full with the store. ok
// is false when the folder changed since the pass that saw passSel.
func (e *Engine) compareFolder(ctx context.Context, r hsync.MailRemote, f store.MailFolder, passSel hsync.FolderState) (c comparison, ok bool, err error) {
	caps := r.Caps()
	same := func(s hsync.FolderState) bool {
		return s.UIDValidity == passSel.UIDValidity && s.UIDNext == passSel.UIDNext && s.Messages == passSel.Messages &&
			(!caps.CondStore || s.HighestModSeq == passSel.HighestModSeq)
	}
	before, err := r.Select(ctx, f.Name)
	if err != nil || !same(before) {
		return c, false, err
	}
	shieldBefore, err := e.shields(ctx, f.ID)
	if err != nil {
		return c, false, err
	}
	stored, err := e.opts.DB.MailFolderFlags(ctx, f.ID)
	if err != nil {
		return c, false, err
	}
	serverUIDs, err := r.UIDs(ctx)
	if err != nil {
		return c, false, err
	}
	serverFlags := map[uint32]hsync.FlagChange{}
	err = r.FlagsChangedSince(ctx, 0, func(fc hsync.FlagChange) error { serverFlags[fc.UID] = fc; return nil })
	if err != nil {
		return c, false, err
	}
	after, err := r.Select(ctx, f.Name)
	if err != nil || !same(after) {
		return c, false, err
	}
	shieldAfter, err := e.shields(ctx, f.ID)
	if err != nil {
		return c, false, err
	}
	shielded := func(kind string, uid uint32) bool { return shieldBefore[kind][uid] || shieldAfter[kind][uid] }

	slices.Sort(serverUIDs)
	c.serverCount = len(serverUIDs)
	onServer := map[uint32]bool{}
	for _, u := range serverUIDs {
		onServer[u] = true
		flags, have := stored[u]
		switch {
		case !have:
			c.missing = append(c.missing, u)
		case shielded("flags", u):
		default:
			if fc, ok := serverFlags[u]; ok && store.JoinFlags(fc.Flags) != flags {
				c.flags = append(c.flags, fc)
			}
		}
	}
	for u := range stored {
		if !onServer[u] && !shielded("move", u) {
			c.ghosts = append(c.ghosts, u)
		}
	}
	slices.Sort(c.ghosts)
	// A replay may have recorded a message here, or moved one away, while
	// the server was listed: what the store says now decides.
	c, ok, err = e.recheck(ctx, f, c)
	if ok && len(c.flags) > 0 && !caps.CondStore {
		// Without CONDSTORE nothing tells a flag changed since the pass
		// (every pass reads every flag, so a difference cannot outlive
		// the next one): compare again after another pass.
		return c, false, err
	}
	return c, ok, err
}

// shields returns, by kind ("flags", "move"), the folder's UIDs with an
// unfinished local action.
func (e *Engine) shields(ctx context.Context, folderID int64) (map[string]map[uint32]bool, error) {
	flags, err := e.opts.DB.PendingActionUIDs(ctx, folderID, []string{"mail.flags"})
	if err != nil {
		return nil, err
	}
	moves, err := e.opts.DB.PendingActionUIDs(ctx, folderID, []string{"mail.move", "mail.delete"})
	if err != nil {
		return nil, err
	}
	return map[string]map[uint32]bool{"flags": flags, "move": moves}, nil
}

// recheck drops from a comparison what the store changed meanwhile.
func (e *Engine) recheck(ctx context.Context, f store.MailFolder, c comparison) (comparison, bool, error) {
	if len(c.missing) > 0 {
		now, err := e.opts.DB.MailFlagsOf(ctx, f.ID, c.missing)
		if err != nil {
			return c, false, err
		}
		c.missing = slices.DeleteFunc(c.missing, func(u uint32) bool { _, ok := now[u]; return ok })
	}
	if len(c.ghosts) > 0 {
		now, err := e.opts.DB.MailFlagsOf(ctx, f.ID, c.ghosts)
		if err != nil {
			return c, false, err
		}
		c.ghosts = slices.DeleteFunc(c.ghosts, func(u uint32) bool { _, ok := now[u]; return !ok })
	}
	if len(c.flags) > 0 {
		uids := make([]uint32, len(c.flags))
		for i, fc := range c.flags {
			uids[i] = fc.UID
		}
		now, err := e.opts.DB.MailFlagsOf(ctx, f.ID, uids)
		if err != nil {
			return c, false, err
		}
		c.flags = slices.DeleteFunc(c.flags, func(fc hsync.FlagChange) bool {
			cur, ok := now[fc.UID]
			return !ok || cur == store.JoinFlags(fc.Flags)
		})
	}
	return c, true, nil
}

// repair applies a comparison: ghosts removed, flags set, missing
// messages fetched.
func (e *Engine) repair(ctx context.Context, r hsync.MailRemote, f store.MailFolder, c comparison, st *Stats) error {
	err := e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.DeleteMailMessages(ctx, f.ID, c.ghosts); err != nil {
			return err
		}
		for _, fc := range c.flags {
			if _, err := tx.SetMailFlags(ctx, f.ID, fc.UID, fc.Flags, fc.ModSeq); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := e.fetchNew(ctx, r, f, f.UIDValidity, c.missing, st); err != nil {
		return errors.Join(fmt.Errorf("fetch missing messages of %s", f.Name), err)
	}
	return nil
}
