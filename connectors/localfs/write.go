package localfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// Write creates or replaces the file rel with what fill writes. The
// content goes to a temporary file in the target's folder, which gets
// modTime (when not zero), is fsynced, and is renamed over rel only if
// rel still is expect (nil: rel must not exist); otherwise the temporary
// file is removed and the error wraps ErrLocalChanged. The folder is
// fsynced after the rename. Missing parent folders are created. On any
// error the temporary file is removed and rel is untouched.
//
// The version returned is read on the written file before the rename
// (fstat), not by name after it: a save by the user right after the
// rename must not be taken for the version whose hash is returned.
func (f *Folder) Write(ctx context.Context, rel string, expect *hsync.LocalFile, modTime time.Time, fill func(io.Writer) error) (hsync.LocalFile, string, error) {
	if expect != nil && expect.Dir {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: cannot replace a folder with a file", rel)
	}
	dir, base, release, err := f.parent(rel, true)
	if err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %w", err)
	}
	defer release()
	f.cleanOnce(dir, parentOf(rel))

	tmp := tempPrefix + randomHex()
	tmpRel := join(parentOf(rel), tmp)
	f.live.Store(tmpRel, true)
	defer f.live.Delete(tmpRel)
	fh, err := dir.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
	if err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: %w", rel, err)
	}
	renamed := false
	defer func() {
		if !renamed {
			fh.Close()
			dir.Remove(tmp)
		}
	}()

	h := sha256.New()
	if err := fill(&hashWriter{ctx: ctx, w: fh, h: h}); err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: %w", rel, err)
	}
	if err := ctx.Err(); err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: %w", rel, err)
	}
	if !modTime.IsZero() {
		if err := dir.Chtimes(tmp, time.Time{}, modTime); err != nil {
			return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: %w", rel, err)
		}
	}
	if err := fh.Sync(); err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: fsync: %w", rel, err)
	}
	st, err := fh.Stat()
	if err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: %w", rel, err)
	}
	if err := fh.Close(); err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: %w", rel, err)
	}

	if err := stillIs(dir, base, rel, expect); err != nil {
		return hsync.LocalFile{}, "", err
	}
	if expect == nil {
		err = renameNoReplace(dir, tmp, dir, base)
		if errors.Is(err, fs.ErrExist) {
			err = changed("write", rel, "created meanwhile")
		}
		if errors.Is(err, errNoReplaceUnsupported) {
			err = dir.Rename(tmp, base) // stillIs has just checked
		}
	} else {
		err = dir.Rename(tmp, base)
	}
	if err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: %w", rel, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return hsync.LocalFile{}, "", fmt.Errorf("localfs: write %s: fsync folder: %w", rel, err)
	}
	return localFile(rel, st), hex.EncodeToString(h.Sum(nil)), nil
}

// stillIs checks that base in dir is the version expect (nil: absent).
func stillIs(dir *os.Root, base, rel string, expect *hsync.LocalFile) error {
	fi, err := dir.Lstat(base)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if expect != nil {
			return changed("write", rel, "removed meanwhile")
		}
		return nil
	case err != nil:
		return fmt.Errorf("localfs: write %s: %w", rel, err)
	case expect == nil:
		return changed("write", rel, "created meanwhile")
	case kindError(fi) != nil || !localFile(rel, fi).Same(*expect):
		return changed("write", rel, "modified meanwhile")
	}
	return nil
}

// hashWriter writes to the file and the hash, and stops when ctx ends.
type hashWriter struct {
	ctx context.Context
	w   io.Writer
	h   hash.Hash
}

func (w *hashWriter) Write(p []byte) (int, error) {
	if err := w.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := w.w.Write(p)
	w.h.Write(p[:n])
	return n, err
}

// Rename moves a file or folder. The destination must not exist (the
// error wraps fs.ErrExist and ErrLocalChanged); its missing parents are
// created. A link is not moved (ErrSymlink).
func (f *Folder) Rename(from, to string) error {
	fdir, fbase, frelease, err := f.parent(from, false)
	if err != nil {
		return fmt.Errorf("localfs: rename %w", err)
	}
	defer frelease()
	if _, err := lstat(fdir, fbase); err != nil {
		return fmt.Errorf("localfs: rename %s: %w", from, err)
	}
	if strings.HasPrefix(to, from+"/") {
		// Refused before parent creates folders inside from for it.
		return fmt.Errorf("localfs: rename %s to %s: a folder cannot move into itself", from, to)
	}
	tdir, tbase, trelease, err := f.parent(to, true)
	if err != nil {
		return fmt.Errorf("localfs: rename %s to %w", from, err)
	}
	defer trelease()
	err = renameNoReplace(fdir, fbase, tdir, tbase)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("localfs: rename %s to %s: the destination exists: %w (%w)", from, to, fs.ErrExist, hsync.ErrLocalChanged)
	}
	if errors.Is(err, errNoReplaceUnsupported) {
		err = f.renameChecked(from, to, tdir, tbase)
	}
	if err != nil {
		return fmt.Errorf("localfs: rename %s to %s: %w", from, to, err)
	}
	if err := syncDir(tdir); err != nil {
		return fmt.Errorf("localfs: rename %s to %s: fsync folder: %w", from, to, err)
	}
	if parentOf(from) != parentOf(to) {
		if err := syncDir(fdir); err != nil {
			return fmt.Errorf("localfs: rename %s to %s: fsync folder: %w", from, to, err)
		}
	}
	return nil
}

// errNoReplaceUnsupported is renameNoReplace's answer where the system
// or the filesystem has no rename that refuses to replace: the caller
// checks, then renames.
var errNoReplaceUnsupported = errors.New("no atomic no-replace rename here")

// renameChecked is the portable Rename: a check, then a rename through
// the folder's root, which cannot leave it. An entry that appears
// between the two is replaced (on Windows only a file; on Unix only if
// it is a file replacing a file, or an empty folder).
func (f *Folder) renameChecked(from, to string, tdir *os.Root, tbase string) error {
	if _, err := tdir.Lstat(tbase); err == nil {
		return fmt.Errorf("the destination exists: %w (%w)", fs.ErrExist, hsync.ErrLocalChanged)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return f.root.Rename(from, to)
}

// Remove deletes the file rel if it still is expect, or the folder rel
// if it is empty; otherwise the error wraps ErrLocalChanged. A missing
// entry wraps fs.ErrNotExist.
func (f *Folder) Remove(rel string, expect hsync.LocalFile) error {
	dir, base, release, err := f.parent(rel, false)
	if err != nil {
		return fmt.Errorf("localfs: remove %w", err)
	}
	defer release()
	fi, err := dir.Lstat(base)
	if err != nil {
		return fmt.Errorf("localfs: remove %s: %w", rel, err)
	}
	switch {
	case kindError(fi) != nil:
		return changed("remove", rel, "no longer a file or folder")
	case fi.IsDir() != expect.Dir:
		return changed("remove", rel, "a file became a folder or the reverse")
	case !expect.Dir && !localFile(rel, fi).Same(expect):
		return changed("remove", rel, "modified meanwhile")
	}
	if err := dir.Remove(base); err != nil {
		if expect.Dir && !emptyDir(dir, base) {
			return changed("remove", rel, "the folder is not empty")
		}
		return fmt.Errorf("localfs: remove %s: %w", rel, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("localfs: remove %s: fsync folder: %w", rel, err)
	}
	return nil
}

// emptyDir reports whether the folder name holds nothing; the errors of
// removing a full folder differ by system, this question does not.
func emptyDir(dir *os.Root, name string) bool {
	d, err := dir.Open(name)
	if err != nil {
		return false
	}
	defer d.Close()
	names, _ := d.Readdirnames(1)
	return len(names) == 0
}

// Mkdir creates the folder rel and any missing parents. An existing
// folder is fine; a file, link or other entry in its place is not.
func (f *Folder) Mkdir(rel string) error {
	dir, base, release, err := f.parent(rel, true)
	if err != nil {
		return fmt.Errorf("localfs: mkdir %w", err)
	}
	defer release()
	err = dir.Mkdir(base, 0o777)
	if errors.Is(err, fs.ErrExist) {
		fi, lerr := dir.Lstat(base)
		if lerr == nil && kindError(fi) == nil && fi.IsDir() {
			return nil
		}
		if lerr == nil && kindError(fi) != nil {
			return fmt.Errorf("localfs: mkdir %s: %w", rel, kindError(fi))
		}
	}
	if err != nil {
		return fmt.Errorf("localfs: mkdir %s: %w", rel, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("localfs: mkdir %s: fsync folder: %w", rel, err)
	}
	return nil
}
