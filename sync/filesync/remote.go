package filesync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	gosync "sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// The remote pass: the server's tree is compared with the base, and what
// the server changed is applied to the local folder, except where a
// local change waits in the outbox (its replay meets the server's change
// and keeps both).

type remoteResult struct {
	downloaded, removed, pending, renamed int
	bytes                                 int64
	problems                              []store.FileProblem
}

// ErrDiskFull is wrapped by the error of a pass that stopped its
// downloads because the local disk is full.
var ErrDiskFull = errors.New("the local disk is full")

// listing is the server's tree as this pass sees it.
type listing struct {
	files   map[string]hsync.RemoteFile
	order   []string
	skipped []string // paths refused or ignored: their subtrees are left alone
}

func (l *listing) isSkipped(path string) bool {
	for _, s := range l.skipped {
		if under(path, s) {
			return true
		}
	}
	return false
}

func (e *Engine) listRemote(ctx context.Context, res *remoteResult) (*listing, error) {
	l := &listing{files: map[string]hsync.RemoteFile{}}
	folded := map[string]string{}
	fold := e.opts.Local.CaseInsensitive()
	err := e.opts.Remote.List(ctx, "", func(f hsync.RemoteFile) error {
		if l.isSkipped(f.Path) {
			return nil
		}
		if err := e.opts.Local.CheckName(f.Path); err != nil {
			l.skipped = append(l.skipped, f.Path)
			res.problems = append(res.problems, problem("remote", f.Path, err.Error()))
			return nil
		}
		if e.opts.Local.Ignored(f.Path, f.Dir) {
			l.skipped = append(l.skipped, f.Path)
			return nil
		}
		if fold {
			k := e.opts.Local.FoldKey(f.Path)
			if other, ok := folded[k]; ok && other != f.Path {
				l.skipped = append(l.skipped, f.Path)
				res.problems = append(res.problems, problem("remote", f.Path, fmt.Sprintf("differs only in case from %q, which this disk cannot tell apart; not synced", other)))
				return nil
			}
			folded[k] = f.Path
		}
		l.files[f.Path] = f
		l.order = append(l.order, f.Path)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list the server's folder: %w", err)
	}
	return l, nil
}

func (e *Engine) pullRemote(ctx context.Context, force bool) (remoteResult, error) {
	var res remoteResult
	l, err := e.listRemote(ctx, &res)
	if err != nil {
		return res, err
	}
	rows, err := e.rowMap(ctx)
	if err != nil {
		return res, err
	}
	// A queued local delete of a folder covers what the server added in
	// it meanwhile: its replay decides (and restores what changed).
	waitingDelete := func(path string) bool {
		for dir := path; dir != ""; dir = parentOf(dir) {
			if r, ok := rows[dir]; ok && r.LocalState != store.FileSynced && (dir == path || r.LocalState == store.FileDeleted) {
				return true
			}
		}
		return false
	}
	if err := e.strengthenETags(ctx, l, rows); err != nil {
		return res, err
	}
	var mkdirs []string
	var downloads []hsync.RemoteFile
	for _, path := range l.order {
		f := l.files[path]
		if waitingDelete(path) {
			continue
		}
		r, known := rows[path]
		switch {
		case !known && f.Dir:
			mkdirs = append(mkdirs, path)
		case !known:
			downloads = append(downloads, f)
		case r.Dir != f.Dir:
			res.problems = append(res.problems, problem("remote", path, "a file and a folder on either side; not synced until one is renamed"))
		case !f.Dir && !sameVersion(f, r.ETag):
			downloads = append(downloads, f)
		}
	}
	var removals []string
	files := 0
	for path, r := range rows {
		if !r.Dir && r.OnServer() {
			files++
		}
		if _, ok := l.files[path]; ok || r.LocalState != store.FileSynced || !r.OnServer() || l.isSkipped(path) {
			continue
		}
		removals = append(removals, path)
	}
	moves := serverMoves(rows, removals, downloads)
	removedFiles := 0
	for _, path := range removals {
		if _, moved := moves[path]; !moved && !rows[path].Dir {
			removedFiles++
		}
	}
	if why := e.guard("server", removedFiles, files); why != "" && !force {
		return res, e.trip(ctx, why)
	}
	for _, d := range mkdirs {
		if err := e.mkdirLocal(ctx, d, l.files[d]); err != nil {
			res.problems = append(res.problems, problem("local", d, err.Error()))
		}
	}
	if len(moves) > 0 {
		downloads = e.renameLocal(ctx, rows, moves, downloads, &res)
	}
	err = e.downloadAll(ctx, downloads, rows, &res)
	// Deepest first: a folder is removed after what it held.
	slices.Sort(removals)
	slices.Reverse(removals)
	for _, path := range removals {
		r, ok := rows[path]
		if !ok {
			continue // renamed, not removed
		}
		if rerr := e.removeLocal(ctx, r); rerr != nil {
			res.problems = append(res.problems, problem("local", path, rerr.Error()))
			continue
		}
		res.removed++
	}
	return res, err
}

// mkdirLocal creates a folder the server has.
func (e *Engine) mkdirLocal(ctx context.Context, path string, f hsync.RemoteFile) error {
	if err := e.opts.Local.Mkdir(path); err != nil {
		return err
	}
	st, err := e.opts.Local.Stat(path)
	if err != nil {
		return err
	}
	return e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.PutFileEntry(ctx, store.FileEntry{Account: e.opts.Account, Path: path, Dir: true, MTime: st.ModTime, ETag: f.ETag, RemoteMTime: f.ModTime})
	})
}

// removeLocal removes a file or folder the server removed, if the local
// one is still the version in step with the server.
func (e *Engine) removeLocal(ctx context.Context, r store.FileEntry) error {
	err := e.opts.Local.Remove(r.Path, viewOf(r))
	switch {
	case errors.Is(err, hsync.ErrLocalChanged) && !r.Dir:
		return nil // changed here: the local pass queues it, and it is uploaded again
	case errors.Is(err, hsync.ErrLocalChanged):
		// A folder with something new inside: forget the folder, the
		// local pass finds it and what it holds as new.
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return e.opts.DB.Write(ctx, func(tx *store.Tx) error { return tx.DeleteFileEntry(ctx, e.opts.Account, r.Path) })
}

// downloadAll fetches files in parallel and commits their rows in
// batches (one fsync per batch, not per file).
func (e *Engine) downloadAll(ctx context.Context, files []hsync.RemoteFile, rows map[string]store.FileEntry, res *remoteResult) error {
	if len(files) == 0 {
		return nil
	}
	prog := Progress{Files: len(files)}
	for _, f := range files {
		prog.Bytes += f.Size
	}
	var mu gosync.Mutex
	var batch []store.FileEntry
	lastFlush := time.Now()
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		b := batch
		batch = nil
		lastFlush = time.Now()
		return e.opts.DB.Write(context.WithoutCancel(ctx), func(tx *store.Tx) error {
			for _, r := range b {
				if err := tx.PutFileEntry(ctx, r); err != nil {
					return err
				}
			}
			return nil
		})
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.opts.Parallel)
	var diskFull error
	for _, f := range files {
		if gctx.Err() != nil {
			break
		}
		var base *store.FileEntry
		if r, ok := rows[f.Path]; ok {
			base = &r
		}
		g.Go(func() error {
			entry, err := e.download(gctx, f, base)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				batch = append(batch, entry)
				res.downloaded++
				res.bytes += entry.Size
				prog.FilesDone++
				prog.BytesDone += entry.Size
				if e.opts.Progress != nil {
					e.opts.Progress(prog)
				}
				if len(batch) >= 200 || time.Since(lastFlush) > 500*time.Millisecond {
					return flush()
				}
				return nil
			case errors.Is(err, hsync.ErrLocalChanged), errors.Is(err, hsync.ErrFileNotFound):
				return nil // changed on one side meanwhile: the next pass sees it
			case errors.Is(err, syscall.ENOSPC):
				diskFull = fmt.Errorf("%w: downloads stopped (they resume when space is free): %w", ErrDiskFull, err)
				res.problems = append(res.problems, problem("local", f.Path, "the local disk is full"))
				return diskFull
			case hsync.KindOf(err) == hsync.Permanent:
				res.problems = append(res.problems, problem("remote", f.Path, err.Error()))
				return nil
			}
			return err
		})
	}
	err := g.Wait()
	mu.Lock()
	defer mu.Unlock()
	res.pending = prog.Files - prog.FilesDone
	if ferr := flush(); ferr != nil && err == nil {
		err = ferr
	}
	if diskFull != nil {
		return diskFull
	}
	return err
}

// download fetches one file into place. base is the row it replaces (nil
// for a new file): the local file must still be that version.
func (e *Engine) download(ctx context.Context, f hsync.RemoteFile, base *store.FileEntry) (store.FileEntry, error) {
	var expect *hsync.LocalFile
	if base != nil {
		v := viewOf(*base)
		expect = &v
	}
	var served hsync.RemoteFile
	lf, sum, err := e.opts.Local.Write(ctx, f.Path, expect, f.ModTime, func(w io.Writer) error {
		var err error
		served, err = e.opts.Remote.Get(ctx, f.Path, w)
		return err
	})
	if err != nil {
		return store.FileEntry{}, fmt.Errorf("download %q: %w", f.Path, err)
	}
	if served.ETag == "" {
		served = f
	} else if served.ModTime.IsZero() {
		served.ModTime = f.ModTime
	}
	served.Size, served.Dir = lf.Size, false
	return store.FileEntry{
		Account: e.opts.Account, Path: f.Path,
		Size: lf.Size, MTime: lf.ModTime, Hash: sum,
		ETag: versionOf(served), RemoteSize: lf.Size, RemoteMTime: served.ModTime, SyncedHash: sum,
	}, nil
}

// serverMoves pairs files gone from the server with new ones that carry
// the same ETag and size: a MOVE keeps the ETag on Apache and most
// servers, so it is the same file under another name, and the folder
// renames its copy instead of downloading it again (and the guard does
// not count it as deleted). Made-up tags and ambiguous pairs are left to
// the plain download and removal.
func serverMoves(rows map[string]store.FileEntry, removals []string, downloads []hsync.RemoteFile) map[string]hsync.RemoteFile {
	type tag struct {
		etag string
		size int64
	}
	gone := map[tag][]string{}
	for _, path := range removals {
		r := rows[path]
		if !r.Dir && r.ETag != "" && !synthetic(r.ETag) {
			k := tag{strings.TrimPrefix(r.ETag, "W/"), r.RemoteSize}
			gone[k] = append(gone[k], path)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	arrived := map[tag][]hsync.RemoteFile{}
	for _, f := range downloads {
		if _, known := rows[f.Path]; !known && f.ETag != "" {
			k := tag{strings.TrimPrefix(f.ETag, "W/"), f.Size}
			arrived[k] = append(arrived[k], f)
		}
	}
	moves := map[string]hsync.RemoteFile{}
	for k, from := range gone {
		if to := arrived[k]; len(from) == 1 && len(to) == 1 {
			moves[from[0]] = to[0]
		}
	}
	return moves
}

// renameLocal applies the server's renames to the folder, where the local
// file is still the version in step; it returns the downloads left to do
// and drops the renamed paths from the removals (by forgetting their
// rows, which removeLocal then finds gone).
func (e *Engine) renameLocal(ctx context.Context, rows map[string]store.FileEntry, moves map[string]hsync.RemoteFile, downloads []hsync.RemoteFile, res *remoteResult) []hsync.RemoteFile {
	done := map[string]bool{}
	for from, f := range moves {
		r := rows[from]
		cur, err := e.opts.Local.Stat(from)
		if err != nil || !cur.Same(viewOf(r)) {
			continue // changed here: downloaded as new, and the change is uploaded
		}
		if err := e.opts.Local.Rename(from, f.Path); err != nil {
			continue
		}
		moved := r
		moved.Path = f.Path
		withBase(&moved, store.FileEntry{ETag: versionOf(f), RemoteSize: f.Size, RemoteMTime: f.ModTime, SyncedHash: r.SyncedHash})
		err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
			if err := tx.DeleteFileEntry(ctx, e.opts.Account, from); err != nil {
				return err
			}
			return tx.PutFileEntry(ctx, moved)
		})
		if err != nil {
			e.log.Error("files: cannot record a rename", "from", from, "to", f.Path, "err", err)
			continue
		}
		rows[f.Path] = moved
		delete(rows, from)
		done[f.Path] = true
		res.renamed++
	}
	out := downloads[:0]
	for _, f := range downloads {
		if !done[f.Path] {
			out = append(out, f)
		}
	}
	return out
}

// strengthenETags replaces weak base ETags with the strong form the
// listing now shows for the same version. Apache hands out a weak ETag
// for a second after a write (what an upload reads back), and a weak
// base costs every later conditional request a wait and a PROPFIND
// (connectors/webdav's weak-ETag rule).
func (e *Engine) strengthenETags(ctx context.Context, l *listing, rows map[string]store.FileEntry) error {
	var fix []store.FileEntry
	for path, r := range rows {
		f, ok := l.files[path]
		if !ok || f.Dir || !strings.HasPrefix(r.ETag, "W/") || strings.HasPrefix(f.ETag, "W/") || !hsync.SameETag(f.ETag, r.ETag) {
			continue
		}
		r.ETag = f.ETag
		rows[path] = r
		fix = append(fix, r)
	}
	if len(fix) == 0 {
		return nil
	}
	return e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		for _, r := range fix {
			cur, ok, err := tx.FileEntry(ctx, e.opts.Account, r.Path)
			if err != nil {
				return err
			}
			if ok && hsync.SameETag(cur.ETag, r.ETag) && cur.ETag != r.ETag {
				cur.ETag = r.ETag
				if err := tx.PutFileEntry(ctx, cur); err != nil {
					return err
				}
			}
		}
		return nil
	})
}
