package filesync

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// conflict handles an upload the server refused because its version
// changed since the base: both versions are kept. The server's is
// downloaded beside the file first (the user's file is not touched until
// it is whole), then the user's version moves to its conflict name and
// the server's takes the path. The conflict copy is uploaded as a new
// file, and a conflicts row records the pair.
func (x *Executor) conflict(ctx context.Context, row store.OutboxRow, path string) (func(*store.Tx) error, error) {
	e := x.Engine
	cur, err := e.opts.Remote.Stat(ctx, path)
	if errors.Is(err, hsync.ErrFileNotFound) {
		// Deleted on the server, changed here: the change wins, as a new
		// file.
		return func(tx *store.Tx) error {
			r, ok, err := tx.FileEntry(ctx, x.account(), path)
			if err != nil || !ok {
				return err
			}
			withBase(&r, store.FileEntry{})
			if r.LocalState != store.FileDeleted {
				r.LocalState = store.FileCreated
			}
			if err := tx.PutFileEntry(ctx, r); err != nil {
				return err
			}
			return enqueue(ctx, tx, x.account(), kindPut, payload{Path: path}, "", "")
		}, nil
	}
	if err != nil {
		return nil, err
	}
	if cur.Dir {
		return nil, hsync.Errorf(hsync.Permanent, "upload "+path, fmt.Errorf("the server has a folder by that name; rename one of them"))
	}
	tmp, err := tempName(path)
	if err != nil {
		return nil, err
	}
	if !e.opts.Local.Ignored(tmp, false) {
		return nil, fmt.Errorf("conflict copy of %q: the temporary name %q would be synced", path, tmp)
	}
	var served hsync.RemoteFile
	_, remoteSum, err := e.opts.Local.Write(ctx, tmp, nil, cur.ModTime, func(w io.Writer) error {
		var err error
		served, err = e.opts.Remote.Get(ctx, path, w)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("download the server's version of %q: %w", path, err)
	}
	if served.ETag == "" {
		served = cur
	}
	localSum, lv, err := e.opts.Local.Hash(ctx, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Deleted here meanwhile: the server's version is all there is.
		if err := e.opts.Local.Rename(tmp, path); err != nil {
			return nil, err
		}
		return x.recordServerVersion(ctx, path, served, remoteSum), nil
	case err != nil:
		x.removeTemp(tmp)
		return nil, err
	}
	if localSum == remoteSum {
		// The same edit on both sides: nothing to keep twice.
		x.removeTemp(tmp)
		return func(tx *store.Tx) error {
			r, ok, err := tx.FileEntry(ctx, x.account(), path)
			if err != nil || !ok {
				return err
			}
			r.Size, r.MTime, r.Hash = lv.Size, lv.ModTime, localSum
			withBase(&r, store.FileEntry{ETag: versionOf(served), RemoteSize: served.Size, RemoteMTime: served.ModTime, SyncedHash: remoteSum})
			r.LocalState = store.FileSynced
			return tx.PutFileEntry(ctx, r)
		}, nil
	}
	copyName := conflictName(path, e.host, e.now(), func(p string) bool {
		_, err := e.opts.Local.Stat(p)
		return err == nil
	})
	if err := e.opts.Local.Rename(path, copyName); err != nil {
		x.removeTemp(tmp)
		return nil, fmt.Errorf("keep your version of %q as %q: %w", path, copyName, err)
	}
	if err := e.opts.Local.Rename(tmp, path); err != nil {
		// Nothing is lost: the user's version is at copyName, the
		// server's still on the server. The next pass downloads it.
		return nil, fmt.Errorf("put the server's version of %q in place: %w", path, err)
	}
	pathView, err1 := e.opts.Local.Stat(path)
	copyView, err2 := e.opts.Local.Stat(copyName)
	if err := errors.Join(err1, err2); err != nil {
		return nil, err
	}
	e.log.Warn("files: changed on both sides; both versions kept", "path", path, "your_version", copyName)
	localMeta, _ := json.Marshal(map[string]any{"path": copyName, "size": copyView.Size, "sha256": localSum})
	remoteMeta, _ := json.Marshal(map[string]any{"path": path, "size": served.Size, "etag": served.ETag, "sha256": remoteSum})
	return func(tx *store.Tx) error {
		r, ok, err := tx.FileEntry(ctx, x.account(), path)
		if err != nil {
			return err
		}
		if !ok {
			r = store.FileEntry{Account: x.account(), Path: path}
		}
		r.Size, r.MTime, r.Hash = pathView.Size, pathView.ModTime, remoteSum
		withBase(&r, store.FileEntry{ETag: versionOf(served), RemoteSize: served.Size, RemoteMTime: served.ModTime, SyncedHash: remoteSum})
		r.LocalState = store.FileSynced
		if err := tx.PutFileEntry(ctx, r); err != nil {
			return err
		}
		c := store.FileEntry{Account: x.account(), Path: copyName, Size: copyView.Size, MTime: copyView.ModTime, Hash: localSum, LocalState: store.FileCreated}
		if err := tx.PutFileEntry(ctx, c); err != nil {
			return err
		}
		if err := enqueue(ctx, tx, x.account(), kindPut, payload{Path: copyName}, "", ""); err != nil {
			return err
		}
		_, err = tx.InsertConflict(ctx, store.Conflict{Account: x.account(), Kind: "file", TargetKey: key(path), OutboxID: row.ID,
			LocalMeta: string(localMeta), RemoteMeta: string(remoteMeta), Policy: "keep-both"})
		return err
	}, nil
}

// recordServerVersion makes the server's version, now on disk, the base
// and the local view of path.
func (x *Executor) recordServerVersion(ctx context.Context, path string, served hsync.RemoteFile, sum string) func(*store.Tx) error {
	v, _ := x.Engine.opts.Local.Stat(path)
	return func(tx *store.Tx) error {
		r := store.FileEntry{Account: x.account(), Path: path, Size: v.Size, MTime: v.ModTime, Hash: sum}
		withBase(&r, store.FileEntry{ETag: versionOf(served), RemoteSize: served.Size, RemoteMTime: served.ModTime, SyncedHash: sum})
		return tx.PutFileEntry(ctx, r)
	}
}

// tempName is a hidden name beside path that the scanner ignores.
func tempName(path string) (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return join(parentOf(path), TempPrefix+"conflict-"+hex.EncodeToString(b[:])), nil
}

// TempPrefix starts the names of holdover's temporary files in the
// synced folder; the local folder never syncs them.
const TempPrefix = ".holdover-tmp-"

func (x *Executor) removeTemp(tmp string) {
	if st, err := x.Engine.opts.Local.Stat(tmp); err == nil {
		x.Engine.opts.Local.Remove(tmp, st)
	}
}

// delete removes a file or folder from the server, if the server's
// version is still the base; a changed one wins and is restored here.
func (x *Executor) delete(ctx context.Context, row store.OutboxRow, pl payload) (func(*store.Tx) error, error) {
	e := x.Engine
	path := pl.Path
	r, ok, err := x.entry(ctx, path)
	if err != nil || !ok {
		return nil, err
	}
	if r.LocalState != store.FileDeleted {
		if r.Dir == pl.Dir {
			return nil, nil // came back since: its upload is queued
		}
		// A file became a folder or the reverse: the server's old one
		// goes (if unchanged), the new one is queued after this.
		if pl.Dir {
			return x.deleteDir(ctx, path)
		}
		r = store.FileEntry{Path: path, ETag: row.BaseVersion}
	} else if r.Dir {
		return x.deleteDir(ctx, path)
	}
	cond, err := x.condition(ctx, path, r.ETag)
	if err == nil {
		err = e.opts.Remote.Delete(ctx, path, cond.IfMatch)
	}
	switch {
	case err == nil, errors.Is(err, hsync.ErrFileNotFound):
		return x.forgetDeleted(ctx, []string{path}), nil
	case hsync.KindOf(err) == hsync.Conflict && r.LocalState != store.FileDeleted:
		return nil, hsync.Errorf(hsync.Permanent, "replace "+path, errors.New("the server's file changed, and a folder of the same name replaced it here; rename one of them"))
	case hsync.KindOf(err) == hsync.Conflict:
		e.log.Warn("files: deleted here but changed on the server; the server's version is restored", "path", path)
		return x.restore(ctx, []string{path}), nil
	}
	return nil, err
}

// deleteDir removes a folder whose files are all still the base versions
// in one request; otherwise it deletes the unchanged files one by one and
// restores the rest.
func (x *Executor) deleteDir(ctx context.Context, path string) (func(*store.Tx) error, error) {
	e := x.Engine
	rows, err := e.opts.DB.FileEntriesUnder(ctx, x.account(), path)
	if err != nil {
		return nil, err
	}
	byPath := map[string]store.FileEntry{}
	for _, r := range rows {
		byPath[r.Path] = r
	}
	var changed, unchanged []hsync.RemoteFile
	err = e.opts.Remote.List(ctx, path, func(f hsync.RemoteFile) error {
		r, ok := byPath[f.Path]
		switch {
		case f.Dir && ok && r.Dir:
		case !f.Dir && ok && sameVersion(f, r.ETag):
			unchanged = append(unchanged, f)
		default:
			changed = append(changed, f)
		}
		return nil
	})
	if errors.Is(err, hsync.ErrFileNotFound) {
		return x.forgetDeleted(ctx, []string{path}), nil
	}
	if err != nil {
		return nil, err
	}
	if len(changed) == 0 {
		if err := e.opts.Remote.Delete(ctx, path, ""); err != nil && !errors.Is(err, hsync.ErrFileNotFound) {
			return nil, err
		}
		return x.forgetDeleted(ctx, []string{path}), nil
	}
	var gone []string
	for _, f := range unchanged {
		cond, err := x.condition(ctx, f.Path, byPath[f.Path].ETag)
		if err == nil {
			err = e.opts.Remote.Delete(ctx, f.Path, cond.IfMatch)
		}
		if err != nil && !errors.Is(err, hsync.ErrFileNotFound) && hsync.KindOf(err) != hsync.Conflict {
			return nil, err
		}
		gone = append(gone, f.Path)
	}
	e.log.Warn("files: folder deleted here but changed on the server; what changed is restored", "path", path, "changed", len(changed))
	return func(tx *store.Tx) error {
		if err := x.forgetDeleted(ctx, gone)(tx); err != nil {
			return err
		}
		return x.restore(ctx, []string{path})(tx)
	}, nil
}

// forgetDeleted drops the rows of deleted paths and what lies below them;
// a row that came back meanwhile stays, as new to the server, and its
// upload is queued.
func (x *Executor) forgetDeleted(ctx context.Context, paths []string) func(*store.Tx) error {
	return func(tx *store.Tx) error {
		return x.eachUnder(ctx, tx, paths, func(r store.FileEntry) error {
			if r.LocalState == store.FileDeleted {
				return tx.DeleteFileEntry(ctx, x.account(), r.Path)
			}
			withBase(&r, store.FileEntry{})
			r.LocalState = store.FileCreated
			if err := tx.PutFileEntry(ctx, r); err != nil {
				return err
			}
			kind := kindPut
			if r.Dir {
				kind = kindMkdir
			}
			return enqueue(ctx, tx, x.account(), kind, payload{Path: r.Path, Dir: r.Dir}, "", "")
		})
	}
}

// restore forgets the deleted rows under paths, so that the next pass
// finds the server's files there as new and downloads them.
func (x *Executor) restore(ctx context.Context, paths []string) func(*store.Tx) error {
	if x.Nudge != nil {
		defer x.Nudge()
	}
	return func(tx *store.Tx) error {
		return x.eachUnder(ctx, tx, paths, func(r store.FileEntry) error {
			if r.LocalState != store.FileDeleted {
				return nil
			}
			return tx.DeleteFileEntry(ctx, x.account(), r.Path)
		})
	}
}

// eachUnder calls fn for the rows of paths and of what lies below them.
func (x *Executor) eachUnder(ctx context.Context, tx *store.Tx, paths []string, fn func(store.FileEntry) error) error {
	for _, p := range paths {
		rows, err := tx.FileEntriesUnder(ctx, x.account(), p)
		if err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}
