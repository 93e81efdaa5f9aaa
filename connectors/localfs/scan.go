package localfs

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// staleAfter is how long a temporary file must have been left untouched
// before it is taken for a crash's leftover: a Write in progress touches
// its file with every chunk it writes, and this process's own are known
// (Folder.live) whatever their age.
const staleAfter = time.Hour

// testHookReadDir, when set, may fail the listing of a folder (tests
// cannot make a folder unreadable when they run as root).
var testHookReadDir func(rel string) error

// Scan walks the folder in lexical order, each folder before what it
// holds, and calls fn for every file and folder that is not ignored.
// Links, devices, sockets and pipes are skipped. A folder that cannot be
// listed is reported once, with err set, and not entered (the engine
// must not take its content for deleted); an entry that cannot be read
// is reported with err set. It re-reads IgnoreFile first if it changed.
// Nothing is hashed.
func (f *Folder) Scan(ctx context.Context, fn func(f hsync.LocalFile, err error) error) error {
	f.reloadRules()
	entries, err := f.readDir(f.root, "")
	if err != nil {
		return fmt.Errorf("localfs: scan: %w", err)
	}
	return f.walk(ctx, f.root, "", entries, fn)
}

// readDir lists dir (relative path rel) sorted by name. Entries of a
// folder opened through an os.Root carry their Lstat already (fstatat
// on the folder: one call per entry, nothing followed).
func (f *Folder) readDir(dir *os.Root, rel string) ([]fs.DirEntry, error) {
	if testHookReadDir != nil {
		if err := testHookReadDir(rel); err != nil {
			return nil, err
		}
	}
	d, err := dir.Open(".")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	entries, err := d.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}

func (f *Folder) walk(ctx context.Context, dir *os.Root, rel string, entries []fs.DirEntry, fn func(hsync.LocalFile, error) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rules := f.rules.Load()
	for _, e := range entries {
		name := e.Name()
		child := join(rel, name)
		if isTemp(name) {
			f.removeIfStale(dir, child, e)
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // gone since the listing; the watcher tells
		}
		if err != nil {
			if err := fn(hsync.LocalFile{Path: child}, err); err != nil {
				return err
			}
			continue
		}
		if err := kindError(fi); err != nil {
			f.logSkipped(child, err)
			continue
		}
		if ignoredEntry(rules, child, name, fi.IsDir()) {
			continue
		}
		if !fi.IsDir() {
			if err := fn(localFile(child, fi), nil); err != nil {
				return err
			}
			continue
		}
		sub, err := openVerified(dir, name, fi)
		var subEntries []fs.DirEntry
		if err == nil {
			if subEntries, err = f.readDir(sub, child); err != nil {
				sub.Close()
			}
		}
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			if err := fn(localFile(child, fi), err); err != nil {
				return err
			}
			continue
		}
		if err := fn(localFile(child, fi), nil); err != nil {
			sub.Close()
			return err
		}
		err = f.walk(ctx, sub, child, subEntries, fn)
		sub.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// logSkipped logs, once per path and process, an entry that is never
// synced.
func (f *Folder) logSkipped(rel string, why error) {
	if _, seen := f.skipped.LoadOrStore(rel, true); !seen {
		f.log.Debug("localfs: not synced", "path", rel, "why", why.Error())
	}
}

// removeIfStale removes a temporary file left by a crash: not one of
// this process's Writes, and untouched for staleAfter.
func (f *Folder) removeIfStale(dir *os.Root, rel string, e fs.DirEntry) {
	if _, mine := f.live.Load(rel); mine {
		return
	}
	fi, err := e.Info()
	if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) < staleAfter {
		return
	}
	if err := dir.Remove(e.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.log.Warn("localfs: cannot remove a stale temporary file", "path", rel, "err", err)
		return
	}
	f.log.Info("localfs: removed a temporary file left by an interrupted write", "path", rel)
}

// cleanOnce removes the stale temporary files of folder rel the first
// time a Write goes there in this process, so that a crash's leftovers
// go even where no Scan passes.
func (f *Folder) cleanOnce(dir *os.Root, rel string) {
	if _, done := f.cleaned.LoadOrStore(rel, true); done {
		return
	}
	entries, err := f.readDir(dir, rel)
	if err != nil {
		return
	}
	for _, e := range entries {
		if isTemp(e.Name()) {
			f.removeIfStale(dir, join(rel, e.Name()), e)
		}
	}
}
