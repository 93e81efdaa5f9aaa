package filesync

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// Executor replays the files actions of the outbox (file.put, file.mkdir,
// file.delete, file.move). Each replay reads the row of its path when it
// runs (never the payload's idea of it): an upload sends the file as it
// is now, with the base ETag the store holds now. It is safe for use by
// several outbox workers at once (transfers run in parallel).
type Executor struct {
	Engine *Engine
	// Nudge, when set, asks for a pass soon: a deletion the server
	// refused (the file changed there) is restored by the next pass.
	Nudge func()
}

// Close implements outbox.Executor; an HTTP client keeps no session.
func (x *Executor) Close() error { return nil }

// Execute replays one action.
func (x *Executor) Execute(ctx context.Context, row store.OutboxRow) (func(*store.Tx) error, error) {
	pl, err := parsePayload(row.Payload)
	if err != nil {
		return nil, hsync.Errorf(hsync.Permanent, row.Kind, err)
	}
	switch row.Kind {
	case kindPut:
		return x.put(ctx, row, pl.Path, false)
	case kindMkdir:
		return x.mkdir(ctx, pl.Path)
	case kindDelete:
		return x.delete(ctx, row, pl)
	case kindMove:
		return x.move(ctx, pl)
	}
	return nil, hsync.Errorf(hsync.Permanent, row.Kind, fmt.Errorf("not a files action"))
}

func (x *Executor) account() string { return x.Engine.opts.Account }

func (x *Executor) entry(ctx context.Context, path string) (store.FileEntry, bool, error) {
	return x.Engine.opts.DB.FileEntry(ctx, x.account(), path)
}

// condition is the precondition of a change to a path whose base is
// etag. A made-up tag (a server without ETags) is checked here, by size
// and time, and the request then goes unconditional.
func (x *Executor) condition(ctx context.Context, path, etag string) (hsync.PutCondition, error) {
	if etag == "" {
		return hsync.PutCondition{Create: true}, nil
	}
	if !synthetic(etag) {
		return hsync.PutCondition{IfMatch: etag}, nil
	}
	cur, err := x.Engine.opts.Remote.Stat(ctx, path)
	if err != nil {
		return hsync.PutCondition{}, err
	}
	if !sameVersion(cur, etag) {
		return hsync.PutCondition{}, hsync.Errorf(hsync.Conflict, "check "+path, fmt.Errorf("changed on the server (size or time differ)"))
	}
	return hsync.PutCondition{Overwrite: true}, nil
}

// mkdirs creates dir and its missing parents on the server.
func (x *Executor) mkdirs(ctx context.Context, dir string) error {
	if dir == "" {
		return nil
	}
	err := x.Engine.opts.Remote.Mkdir(ctx, dir)
	if errors.Is(err, hsync.ErrNoParent) {
		if err := x.mkdirs(ctx, parentOf(dir)); err != nil {
			return err
		}
		err = x.Engine.opts.Remote.Mkdir(ctx, dir)
	}
	return err
}

// put uploads the file at path as it is now.
func (x *Executor) put(ctx context.Context, row store.OutboxRow, path string, retried bool) (func(*store.Tx) error, error) {
	e := x.Engine
	r, ok, err := x.entry(ctx, path)
	if err != nil || !ok || r.LocalState == store.FileDeleted {
		return nil, err // forgotten or deleted since: its delete is queued
	}
	if st, err := e.opts.Local.Stat(path); err == nil && st.Dir {
		return x.mkdir(ctx, path)
	}
	f, ver, err := e.opts.Local.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil // gone: the local pass queues its delete
	}
	if err != nil {
		return nil, hsync.Errorf(hsync.Permanent, "read "+path, err)
	}
	defer f.Close()
	if r.OnServer() && r.SyncedHash != "" && ver.Same(viewOf(r)) && r.Hash == r.SyncedHash {
		return x.markSynced(path, ver, r.Hash), nil // changed back: nothing to send
	}
	cond, err := x.condition(ctx, path, r.ETag)
	if err != nil {
		if hsync.KindOf(err) == hsync.Conflict {
			return x.conflict(ctx, row, path)
		}
		return nil, err
	}
	// Exactly the size announced: a file that grows while it is read
	// would otherwise break the request halfway (and a server may keep
	// what arrived). A change during the read is caught below and sent
	// again.
	h := sha256.New()
	rf, err := e.opts.Remote.Put(ctx, path, io.TeeReader(io.LimitReader(f, ver.Size), h), ver.Size, cond)
	switch {
	case errors.Is(err, hsync.ErrNoParent) && !retried:
		if err := x.mkdirs(ctx, parentOf(path)); err != nil {
			return nil, err
		}
		f.Close()
		return x.put(ctx, row, path, true)
	case hsync.KindOf(err) == hsync.Conflict && err != nil:
		return x.conflict(ctx, row, path)
	case err != nil:
		return nil, err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	after, serr := e.opts.Local.Stat(path)
	torn := serr != nil || !after.Same(ver)
	if torn {
		e.log.Info("files: file changed while being uploaded; it is uploaded again", "path", path)
	}
	return func(tx *store.Tx) error {
		cur, ok, err := tx.FileEntry(ctx, x.account(), path)
		if err != nil {
			return err
		}
		base := store.FileEntry{ETag: versionOf(rf), RemoteSize: rf.Size, RemoteMTime: rf.ModTime, SyncedHash: sum}
		if !ok {
			// Deleted here while it was being uploaded: the upload is on
			// the server now, and its deletion follows.
			cur = store.FileEntry{Account: x.account(), Path: path, LocalState: store.FileDeleted}
			withBase(&cur, base)
			if err := tx.PutFileEntry(ctx, cur); err != nil {
				return err
			}
			return enqueue(ctx, tx, x.account(), kindDelete, payload{Path: path}, "", cur.ETag)
		}
		withBase(&cur, base)
		switch {
		case torn:
			cur.SyncedHash = "" // whatever reached the server is not a version anyone saved
			cur.LocalState = store.FileModified
			if err := tx.PutFileEntry(ctx, cur); err != nil {
				return err
			}
			return enqueue(ctx, tx, x.account(), kindPut, payload{Path: path}, "", cur.ETag)
		case cur.LocalState == store.FileDeleted:
		case viewOf(cur).Same(ver) || cur.Hash == sum || cur.Hash == "":
			cur.Size, cur.MTime, cur.Hash = ver.Size, ver.ModTime, sum
			cur.LocalState = store.FileSynced
		default:
			cur.LocalState = store.FileModified // a newer save is queued
		}
		return tx.PutFileEntry(ctx, cur)
	}, nil
}

func withBase(r *store.FileEntry, b store.FileEntry) {
	r.ETag, r.RemoteSize, r.RemoteMTime, r.SyncedHash = b.ETag, b.RemoteSize, b.RemoteMTime, b.SyncedHash
}

// markSynced records that the local view is the base again.
func (x *Executor) markSynced(path string, ver hsync.LocalFile, hash string) func(*store.Tx) error {
	return func(tx *store.Tx) error {
		ctx := context.Background()
		cur, ok, err := tx.FileEntry(ctx, x.account(), path)
		if err != nil || !ok || cur.LocalState == store.FileDeleted || !viewOf(cur).Same(ver) {
			return err
		}
		cur.Hash, cur.LocalState = hash, store.FileSynced
		return tx.PutFileEntry(ctx, cur)
	}
}

// enqueue adds a follow-up action from an executor's outcome; an upload
// coalesces into a pending one.
func enqueue(ctx context.Context, tx *store.Tx, account, kind string, pl payload, from, base string) error {
	if kind == kindPut || kind == kindMkdir {
		last, pending, err := tx.LastOpenOutbox(ctx, account, key(pl.Path))
		if err != nil {
			return err
		}
		if pending && last.Kind == kind {
			return nil
		}
	}
	a := store.OutboxAction{Account: account, Kind: kind, TargetKey: key(pl.Path), Payload: pl.bytes(), BaseVersion: base}
	if from != "" {
		a.TargetKey2 = key(from)
	} else {
		// What goes into a folder waits for the folder's own queued
		// action (its creation, or the delete of a file it replaces).
		parent, err := openAncestor(ctx, tx, account, pl.Path)
		if err != nil {
			return err
		}
		if parent != "" {
			a.TargetKey2 = key(parent)
		}
	}
	_, err := tx.EnqueueOutbox(ctx, a)
	return err
}

// openAncestor returns the nearest folder above path with an unfinished
// action, "" when none has.
func openAncestor(ctx context.Context, tx *store.Tx, account, path string) (string, error) {
	for dir := parentOf(path); dir != ""; dir = parentOf(dir) {
		last, _, err := tx.LastOpenOutbox(ctx, account, key(dir))
		if err != nil {
			return "", err
		}
		if last.ID != 0 {
			return dir, nil
		}
	}
	return "", nil
}

// mkdir creates a folder on the server.
func (x *Executor) mkdir(ctx context.Context, path string) (func(*store.Tx) error, error) {
	r, ok, err := x.entry(ctx, path)
	if err != nil || !ok || r.LocalState == store.FileDeleted || !r.Dir {
		return nil, err
	}
	if err := x.mkdirs(ctx, path); err != nil {
		return nil, err
	}
	return func(tx *store.Tx) error {
		cur, ok, err := tx.FileEntry(ctx, x.account(), path)
		if err != nil || !ok || cur.LocalState != store.FileCreated || !cur.Dir {
			return err
		}
		cur.LocalState = store.FileSynced
		return tx.PutFileEntry(ctx, cur)
	}, nil
}
