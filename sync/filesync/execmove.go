package filesync

import (
	"context"
	"errors"
	"strings"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// move replays a rename as a MOVE, if the server's source is still the
// base (every file of it, for a folder) and the destination is free.
// Otherwise it is unpacked into what it stands for: a delete of the
// source and uploads of the destination, each with its own precondition.
func (x *Executor) move(ctx context.Context, pl payload) (func(*store.Tx) error, error) {
	e := x.Engine
	from, to := pl.From, pl.Path
	fr, ok, err := x.entry(ctx, from)
	if err != nil {
		return nil, err
	}
	if !ok || fr.LocalState != store.FileDeleted {
		return x.unpack(ctx, from, to), nil
	}
	var ifMatch string
	var fromRows []store.FileEntry
	if fr.Dir {
		fromRows, err = e.opts.DB.FileEntriesUnder(ctx, x.account(), from)
		if err != nil {
			return nil, err
		}
		same, err := x.treeIsBase(ctx, from, fromRows)
		if err != nil || !same {
			if err != nil && hsync.KindOf(err) == hsync.Transient && !errors.Is(err, hsync.ErrFileNotFound) {
				return nil, err
			}
			return x.unpack(ctx, from, to), nil
		}
	} else {
		cond, err := x.condition(ctx, from, fr.ETag)
		if err != nil {
			if hsync.KindOf(err) == hsync.Conflict || errors.Is(err, hsync.ErrFileNotFound) {
				return x.unpack(ctx, from, to), nil
			}
			return nil, err
		}
		ifMatch = cond.IfMatch
		fromRows = []store.FileEntry{fr}
	}
	err = e.opts.Remote.Move(ctx, from, to, ifMatch)
	if errors.Is(err, hsync.ErrNoParent) {
		if err = x.mkdirs(ctx, parentOf(to)); err == nil {
			err = e.opts.Remote.Move(ctx, from, to, ifMatch)
		}
	}
	switch {
	case err == nil:
	case hsync.KindOf(err) == hsync.Conflict, errors.Is(err, hsync.ErrFileNotFound):
		return x.unpack(ctx, from, to), nil
	default:
		return nil, err
	}
	// The server may give moved files new ETags: read them.
	moved := map[string]hsync.RemoteFile{}
	if fr.Dir {
		err = e.opts.Remote.List(ctx, to, func(f hsync.RemoteFile) error {
			moved[f.Path] = f
			return nil
		})
	} else {
		var f hsync.RemoteFile
		f, err = e.opts.Remote.Stat(ctx, to)
		moved[to] = f
	}
	if err != nil {
		// Moved, but the new versions are unknown: the uploads that
		// unpacking queues find the files there and compare contents.
		return x.unpack(ctx, from, to), nil
	}
	return func(tx *store.Tx) error {
		for _, old := range fromRows {
			dest := to + strings.TrimPrefix(old.Path, from)
			cur, ok, err := tx.FileEntry(ctx, x.account(), dest)
			if err != nil {
				return err
			}
			f, listed := moved[dest]
			if !ok || !listed {
				continue
			}
			withBase(&cur, store.FileEntry{ETag: versionOf(f), RemoteSize: f.Size, RemoteMTime: f.ModTime, SyncedHash: old.SyncedHash})
			if cur.LocalState == store.FileCreated {
				cur.LocalState = store.FileSynced
				if !cur.Dir && cur.Hash != old.SyncedHash {
					cur.LocalState = store.FileModified
					if err := enqueue(ctx, tx, x.account(), kindPut, payload{Path: dest}, "", cur.ETag); err != nil {
						return err
					}
				}
			}
			if err := tx.PutFileEntry(ctx, cur); err != nil {
				return err
			}
		}
		// The source is gone from the server; what came back here since
		// is new to it.
		return x.forgetDeleted(ctx, []string{from})(tx)
	}, nil
}

// treeIsBase reports whether every file the server has under dir is the
// base version, and nothing is missing.
func (x *Executor) treeIsBase(ctx context.Context, dir string, rows []store.FileEntry) (bool, error) {
	want := map[string]store.FileEntry{}
	for _, r := range rows {
		if r.Path != dir {
			want[r.Path] = r
		}
	}
	same := true
	err := x.Engine.opts.Remote.List(ctx, dir, func(f hsync.RemoteFile) error {
		r, ok := want[f.Path]
		if !ok || r.Dir != f.Dir || (!f.Dir && !sameVersion(f, r.ETag)) {
			same = false
		}
		delete(want, f.Path)
		return nil
	})
	return same && len(want) == 0, err
}

// unpack turns a rename that cannot be replayed as a MOVE into a delete
// of the source and uploads of the destination.
func (x *Executor) unpack(ctx context.Context, from, to string) func(*store.Tx) error {
	x.Engine.log.Info("files: rename replayed as upload and delete", "from", from, "to", to)
	return func(tx *store.Tx) error {
		fr, ok, err := tx.FileEntry(ctx, x.account(), from)
		if err != nil {
			return err
		}
		if ok && fr.LocalState == store.FileDeleted {
			if err := enqueue(ctx, tx, x.account(), kindDelete, payload{Path: from, Dir: fr.Dir}, "", fr.ETag); err != nil {
				return err
			}
		}
		rows, err := tx.FileEntriesUnder(ctx, x.account(), to)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if r.LocalState != store.FileCreated {
				continue
			}
			kind := kindPut
			if r.Dir {
				kind = kindMkdir
			}
			if err := enqueue(ctx, tx, x.account(), kind, payload{Path: r.Path, Dir: r.Dir}, "", ""); err != nil {
				return err
			}
		}
		return nil
	}
}
