package filesync

import (
	"context"

	"github.com/holdover/holdover/store"
)

// apply writes the plan: rows first, then their actions, in the caller's
// transaction.
func (p *localPlan) apply(ctx context.Context) error {
	movedFrom, movedTo := map[string]bool{}, map[string]bool{}
	for _, m := range p.moves {
		movedFrom[m.from], movedTo[m.to] = true, true
		if err := p.applyMove(ctx, m); err != nil {
			return err
		}
	}
	inMove := func(path string, set map[string]bool) bool {
		for dir := path; dir != ""; dir = parentOf(dir) {
			if set[dir] {
				return true
			}
		}
		return false
	}
	for _, top := range p.topGone() {
		if inMove(top, movedFrom) {
			continue
		}
		if err := p.applyGone(ctx, top); err != nil {
			return err
		}
	}
	for _, c := range p.created {
		if inMove(c, movedTo) {
			continue
		}
		if err := p.applyCreated(ctx, c); err != nil {
			return err
		}
	}
	for _, m := range p.modified {
		r, d := p.rows[m], p.disk[m]
		state := store.FileModified
		switch {
		case r.LocalState == store.FileCreated || !r.OnServer():
			state = store.FileCreated
		case d.hash == r.SyncedHash:
			state = store.FileSynced // changed back to the server's version
		}
		if err := p.putRow(ctx, m, state); err != nil {
			return err
		}
		if state != store.FileSynced {
			if err := p.enqueue(ctx, kindPut, payload{Path: m}, "", r.ETag); err != nil {
				return err
			}
		}
	}
	for _, t := range p.touched {
		if err := p.putRow(ctx, t, p.rows[t].LocalState); err != nil {
			return err
		}
	}
	return nil
}

// putRow records the disk's version of path as the local view, keeping
// the base, with a local state.
func (p *localPlan) putRow(ctx context.Context, path, state string) error {
	r, d := p.rows[path], p.disk[path]
	r.Account, r.Path, r.Dir = p.e.opts.Account, path, d.Dir
	r.Size, r.MTime, r.Hash = d.Size, d.ModTime, d.hash
	if d.Dir {
		r.Size, r.Hash = 0, ""
	}
	r.LocalState = state
	p.rows[path] = r
	return p.tx.PutFileEntry(ctx, r)
}

// enqueue adds an action; an upload coalesces into a pending one on the
// same path (the upload reads the file when it runs).
func (p *localPlan) enqueue(ctx context.Context, kind string, pl payload, from, base string) error {
	p.queued++
	return enqueue(ctx, p.tx, p.e.opts.Account, kind, pl, from, base)
}

// applyMove queues a rename: the source's rows wait as deleted, the
// destination's as created, until the MOVE is replayed.
func (p *localPlan) applyMove(ctx context.Context, m move) error {
	for path, r := range p.rows {
		if under(path, m.from) {
			r.LocalState = store.FileDeleted
			p.rows[path] = r
			if err := p.tx.PutFileEntry(ctx, r); err != nil {
				return err
			}
		}
	}
	for _, c := range p.created {
		if under(c, m.to) {
			if err := p.putRow(ctx, c, store.FileCreated); err != nil {
				return err
			}
		}
	}
	return p.enqueue(ctx, kindMove, payload{Path: m.to, From: m.from, Dir: m.dir}, m.from, p.rows[m.from].ETag)
}

// applyGone queues the deletion of a path gone from disk, with what lies
// below it: one action for the whole folder.
func (p *localPlan) applyGone(ctx context.Context, top string) error {
	r := p.rows[top]
	switch {
	case r.LocalState == store.FileDeleted:
		// Its folder came back but it did not: it needs its own action
		// unless it has one.
		if _, _, open, err := p.openOn(ctx, top); err != nil || open {
			return err
		}
	case r.LocalState == store.FileCreated || !r.OnServer():
		// Never reached the server: forget it and its queued actions.
		for path := range p.rows {
			if under(path, top) {
				if _, err := p.tx.CancelLaterOnKey(ctx, p.e.opts.Account, key(path), 0, "the file was deleted before it was uploaded"); err != nil {
					return err
				}
				delete(p.rows, path)
			}
		}
		return p.tx.DeleteFileTree(ctx, p.e.opts.Account, top)
	}
	for path, c := range p.rows {
		if !under(path, top) || p.disk[path] != nil {
			continue
		}
		if _, err := p.tx.CancelLaterOnKey(ctx, p.e.opts.Account, key(path), 0, "the file was deleted"); err != nil {
			return err
		}
		c.LocalState = store.FileDeleted
		p.rows[path] = c
		if err := p.tx.PutFileEntry(ctx, c); err != nil {
			return err
		}
	}
	return p.enqueue(ctx, kindDelete, payload{Path: top, Dir: r.Dir}, "", r.ETag)
}

// openOn reports the newest unfinished action on a path's key.
func (p *localPlan) openOn(ctx context.Context, path string) (store.OutboxRow, bool, bool, error) {
	last, pending, err := p.tx.LastOpenOutbox(ctx, p.e.opts.Account, key(path))
	return last, pending, last.ID != 0 && err == nil, err
}

// applyCreated records a path new on disk, or back after its deletion
// was queued, and queues its upload.
func (p *localPlan) applyCreated(ctx context.Context, c string) error {
	r, known := p.rows[c]
	d := p.disk[c]
	kind := kindPut
	if d.Dir {
		kind = kindMkdir
	}
	if !known || r.Dir != d.Dir {
		if known {
			// A file became a folder or the reverse: the old kind's
			// delete is queued first (applyGone); this one is new.
			withBase(&r, store.FileEntry{})
			p.rows[c] = r
		}
		if err := p.putRow(ctx, c, store.FileCreated); err != nil {
			return err
		}
		return p.enqueue(ctx, kind, payload{Path: c, Dir: d.Dir}, "", "")
	}
	// Back after a queued delete: cancel it if it has not started.
	if _, err := p.tx.CancelLaterOnKey(ctx, p.e.opts.Account, key(c), 0, "the path came back"); err != nil {
		return err
	}
	_, _, inflight, err := p.openOn(ctx, c)
	if err != nil {
		return err
	}
	state := store.FileModified
	switch {
	case inflight:
		// The delete is running: what comes back is new to the server
		// (the delete's outcome clears the base).
		state = store.FileCreated
	case d.Dir || (d.hash == r.SyncedHash && r.OnServer()):
		state = store.FileSynced
	}
	if err := p.putRow(ctx, c, state); err != nil {
		return err
	}
	if state == store.FileSynced {
		return nil
	}
	return p.enqueue(ctx, kind, payload{Path: c, Dir: d.Dir}, "", r.ETag)
}
