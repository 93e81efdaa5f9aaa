// Package localfs is the synced folder on the local disk: it implements
// sync.LocalFolder (scan, hash, read, atomic write, rename, remove,
// watch) and checks which remote names may become local ones
// (CheckName, FoldKey). When to upload or download what is the files
// engine's business (package sync); this package only keeps the disk
// honest.
//
// Invariants:
//   - Nothing outside the root is ever read or written. Every path is
//     checked (no "", "..", absolute or empty segments) and every
//     operation goes through an os.Root opened once on the root's
//     absolute, symlink-free path, which refuses to leave it even when
//     the tree changes under it.
//   - A symbolic link is never followed, not even one that stays inside
//     the folder: a link is not synced. Scan skips links (logged once, at
//     debug). Other methods walk a path one folder at a time: each
//     component is read with Lstat in its parent, opened, and the opened
//     folder must be the very one Lstat saw (os.SameFile), so a folder
//     swapped for a link between the two steps is refused rather than
//     followed; a file is opened the same way. A link, or a link among
//     the parents, is ErrSymlink. Devices, sockets and pipes are skipped
//     too (opening a pipe would block). O_NOFOLLOW alone would guard only
//     the last component, and Windows has none; os.Root guards every
//     component on every system, and the SameFile check adds "not even
//     inside".
//   - A file never appears under its final name partially written: Write
//     fills a temporary file in the same folder (named tempPrefix +
//     random), fsyncs it, renames it over the target only if the target
//     still is the version the caller expected, and fsyncs the folder.
//     A crash leaves at most a temporary file: Scan and Watch never
//     report one, and Scan (or the first Write into that folder) removes
//     those not touched for an hour that no Write of this process owns.
//   - A file that changes while it is hashed, or between the engine's
//     look and a replace or remove, is not used: ErrLocalChanged.
//   - What is ignored: builtinIgnores (editor lock, swap and backup
//     files, system caches and view settings, downloads in progress,
//     holdover's temporary files) and the gitignore rules of
//     .holdoverignore at the root, which is synced itself and re-read
//     when it changes. An ignored folder is not entered.
//
// Permissions follow the user's umask, like files their other programs
// create: folders 0o777 and files 0o666 before it. The folder is the
// user's; a fixed 0o644 would expose files a 077 umask means to keep
// private.
//
// Remaining races, which no portable call closes: a file saved by the
// user in the microseconds between Write's (or Remove's) last check and
// its rename (or unlink) is replaced (or removed); on Linux a Write
// that creates and every Rename use renameat2(RENAME_NOREPLACE), so an
// entry that appears meanwhile is never replaced there.
package localfs

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// ErrSymlink is wrapped by errors about a path that is, or goes through,
// a symbolic link: it is never followed.
var ErrSymlink = errors.New("a symbolic link is never followed")

// ErrNotRegular is wrapped by errors about a device, socket or pipe.
var ErrNotRegular = errors.New("not a regular file or folder")

// DefaultDebounce is how long Watch waits for quiet before it reports:
// a save is often several events (write, chmod, rename) in a row.
const DefaultDebounce = 200 * time.Millisecond

// Options tune a Folder; the zero value is usable.
type Options struct {
	// Debounce is the quiet time Watch waits for after the last event
	// (DefaultDebounce if 0). A continuous burst is still reported
	// every 5×Debounce (1 s by default), so a long copy shows progress.
	Debounce time.Duration
	// Logger receives debug and warning lines (none if nil).
	Logger *slog.Logger
}

// Folder is a synced folder; it implements sync.LocalFolder. Its methods
// are safe for concurrent use.
type Folder struct {
	root     *os.Root
	abs      string // absolute, symlink-free path of the root
	log      *slog.Logger
	debounce time.Duration
	caseless bool

	rulesMu sync.Mutex
	rules   atomic.Pointer[userRules]

	skipped sync.Map // rel path -> true: an entry Scan skipped and logged
	live    sync.Map // rel path of a temporary file a Write is filling
	cleaned sync.Map // rel path of a folder whose stale temporary files Write removed
}

var _ hsync.LocalFolder = (*Folder)(nil)

// Open opens the folder at root, which must exist and be a folder. The
// path is made absolute and free of symbolic links once, here. Close
// releases it.
func Open(root string, opts Options) (*Folder, error) {
	abs, err := filepath.Abs(root)
	if err == nil {
		abs, err = filepath.EvalSymlinks(abs)
	}
	if err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("localfs: %s is not a folder", abs)
	}
	r, err := os.OpenRoot(abs)
	if err != nil {
		return nil, fmt.Errorf("localfs: %w", err)
	}
	f := &Folder{root: r, abs: abs, log: opts.Logger, debounce: opts.Debounce}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	if f.debounce <= 0 {
		f.debounce = DefaultDebounce
	}
	f.caseless = f.probeCase()
	f.reloadRules()
	return f, nil
}

// Close releases the folder; no method may be called after, and Watch
// must have returned.
func (f *Folder) Close() error { return f.root.Close() }

// Root returns the absolute, symlink-free path of the folder.
func (f *Folder) Root() string { return f.abs }

// CaseInsensitive reports whether names that differ only in case name
// the same entry here; probed once, by Open.
func (f *Folder) CaseInsensitive() bool { return f.caseless }

// probeCase creates a file with a mixed-case name and looks it up with
// the case swapped. A folder where nothing can be created is assumed to
// behave as its system's default filesystem does.
func (f *Folder) probeCase() bool {
	name := tempPrefix + "caseProbe-" + randomHex()
	fh, err := f.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		f.log.Debug("localfs: cannot probe case sensitivity; assuming the system default", "err", err)
		return runtime.GOOS == "windows" || runtime.GOOS == "darwin"
	}
	fh.Close()
	defer f.root.Remove(name)
	a, err := f.root.Lstat(name)
	if err != nil {
		return false
	}
	b, err := f.root.Lstat(swapCase(name))
	return err == nil && os.SameFile(a, b)
}

func swapCase(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z':
			return r - 'A' + 'a'
		}
		return r
	}, s)
}

func randomHex() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// parent opens the folder that holds rel, one component at a time
// without following links (see the package doc), and returns it with
// rel's last segment. With create, missing folders are made (and their
// parents fsynced, so they survive a crash with what goes in them).
// release closes what parent opened.
func (f *Folder) parent(rel string, create bool) (dir *os.Root, base string, release func(), err error) {
	if err := checkRel(rel); err != nil {
		return nil, "", nil, err
	}
	dir, release = f.root, func() {}
	segs := strings.Split(rel, "/")
	for i, seg := range segs[:len(segs)-1] {
		sub, err := f.openSub(dir, seg, create)
		if err != nil {
			release()
			return nil, "", nil, fmt.Errorf("%s: %w", strings.Join(segs[:i+1], "/"), err)
		}
		release()
		dir, release = sub, func() { sub.Close() }
	}
	return dir, segs[len(segs)-1], release, nil
}

// openSub opens the folder name inside dir, refusing a link or anything
// not a folder, and a folder swapped between the Lstat and the open.
func (f *Folder) openSub(dir *os.Root, name string, create bool) (*os.Root, error) {
	fi, err := dir.Lstat(name)
	if create && errors.Is(err, fs.ErrNotExist) {
		if err := dir.Mkdir(name, 0o777); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if err := syncDir(dir); err != nil {
			return nil, err
		}
		fi, err = dir.Lstat(name)
	}
	if err != nil {
		return nil, err
	}
	return openVerified(dir, name, fi)
}

// openVerified opens the folder name, which Lstat described as fi.
func openVerified(dir *os.Root, name string, fi fs.FileInfo) (*os.Root, error) {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return nil, ErrSymlink
	case !fi.IsDir():
		return nil, fmt.Errorf("not a folder: %w", fs.ErrNotExist)
	}
	sub, err := dir.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	st, err := sub.Stat(".")
	if err != nil || !os.SameFile(fi, st) {
		sub.Close()
		return nil, fmt.Errorf("replaced while being opened: %w", hsync.ErrLocalChanged)
	}
	return sub, nil
}

// lstat reads base in dir, refusing links and special files.
func lstat(dir *os.Root, base string) (fs.FileInfo, error) {
	fi, err := dir.Lstat(base)
	if err != nil {
		return nil, err
	}
	return fi, kindError(fi)
}

func kindError(fi fs.FileInfo) error {
	switch m := fi.Mode(); {
	case m&fs.ModeSymlink != 0:
		return ErrSymlink
	case !m.IsRegular() && !m.IsDir():
		return ErrNotRegular
	}
	return nil
}

func localFile(rel string, fi fs.FileInfo) hsync.LocalFile {
	lf := hsync.LocalFile{Path: rel, Dir: fi.IsDir(), ModTime: fi.ModTime()}
	if !lf.Dir {
		lf.Size = fi.Size()
	}
	return lf
}

func changed(op, rel, why string) error {
	return fmt.Errorf("localfs: %s %s: %s: %w", op, rel, why, hsync.ErrLocalChanged)
}

// Stat reads one entry without following links; a missing one wraps
// fs.ErrNotExist, a link ErrSymlink.
func (f *Folder) Stat(rel string) (hsync.LocalFile, error) {
	dir, base, release, err := f.parent(rel, false)
	if err != nil {
		return hsync.LocalFile{}, fmt.Errorf("localfs: stat %w", err)
	}
	defer release()
	fi, err := lstat(dir, base)
	if err != nil {
		return hsync.LocalFile{}, fmt.Errorf("localfs: stat %s: %w", rel, err)
	}
	return localFile(rel, fi), nil
}

// Open opens a file for reading, with the version it opened (read on the
// open file, so it describes what will be read).
func (f *Folder) Open(rel string) (io.ReadCloser, hsync.LocalFile, error) {
	dir, base, release, err := f.parent(rel, false)
	if err != nil {
		return nil, hsync.LocalFile{}, fmt.Errorf("localfs: open %w", err)
	}
	defer release()
	fh, st, err := openFile(dir, base)
	if err != nil {
		return nil, hsync.LocalFile{}, fmt.Errorf("localfs: open %s: %w", rel, err)
	}
	return fh, localFile(rel, st), nil
}

// openFile opens the regular file base in dir and returns it with its
// fstat; it refuses a link, a folder, and a file swapped between the
// Lstat and the open.
func openFile(dir *os.Root, base string) (*os.File, fs.FileInfo, error) {
	fi, err := lstat(dir, base)
	if err != nil {
		return nil, nil, err
	}
	if fi.IsDir() {
		return nil, nil, errors.New("is a folder")
	}
	fh, err := dir.Open(base)
	if err != nil {
		return nil, nil, err
	}
	st, err := fh.Stat()
	if err == nil && !os.SameFile(fi, st) {
		err = fmt.Errorf("replaced while being opened: %w", hsync.ErrLocalChanged)
	}
	if err != nil {
		fh.Close()
		return nil, nil, err
	}
	return fh, st, nil
}

// hashBuffers are the read buffers of Hash: large enough that a big file
// costs few system calls, pooled so parallel hashing allocates little.
var hashBuffers = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// testHookHashRead, when set, runs after Hash's first read (tests change
// the file there, deterministically).
var testHookHashRead func(rel string)

// Hash returns the hex SHA-256 of a file's content and the version that
// was hashed. The version is read on the open file before and after: if
// the size or mtime moved, or the name no longer leads to that file, the
// hash describes nothing the disk holds and ErrLocalChanged is returned.
func (f *Folder) Hash(ctx context.Context, rel string) (string, hsync.LocalFile, error) {
	dir, base, release, err := f.parent(rel, false)
	if err != nil {
		return "", hsync.LocalFile{}, fmt.Errorf("localfs: hash %w", err)
	}
	defer release()
	fh, before, err := openFile(dir, base)
	if err != nil {
		return "", hsync.LocalFile{}, fmt.Errorf("localfs: hash %s: %w", rel, err)
	}
	defer fh.Close()
	h := sha256.New()
	buf := hashBuffers.Get().(*[]byte)
	defer hashBuffers.Put(buf)
	var r io.Reader = &ctxReader{ctx: ctx, r: fh}
	if testHookHashRead != nil {
		r = &hookReader{r: r, hook: func() { testHookHashRead(rel) }}
	}
	n, err := io.CopyBuffer(h, r, *buf)
	if err != nil {
		return "", hsync.LocalFile{}, fmt.Errorf("localfs: hash %s: %w", rel, err)
	}
	after, err := fh.Stat()
	if err != nil {
		return "", hsync.LocalFile{}, fmt.Errorf("localfs: hash %s: %w", rel, err)
	}
	v := localFile(rel, before)
	if !v.Same(localFile(rel, after)) || n != v.Size {
		return "", hsync.LocalFile{}, changed("hash", rel, "written to while being read")
	}
	if now, err := dir.Lstat(base); err != nil || !os.SameFile(before, now) {
		return "", hsync.LocalFile{}, changed("hash", rel, "replaced while being read")
	}
	return hex.EncodeToString(h.Sum(nil)), v, nil
}

// ctxReader stops a long read when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

type hookReader struct {
	r    io.Reader
	hook func()
	done bool
}

func (h *hookReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if !h.done {
		h.done = true
		h.hook()
	}
	return n, err
}

// join appends name to the relative folder dir ("" is the root).
func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// parentOf is the relative folder that holds rel ("" for the root).
func parentOf(rel string) string {
	if d := path.Dir(rel); d != "." {
		return d
	}
	return ""
}

// syncDir makes the entries of dir (a create, rename or remove) durable.
// Windows cannot fsync a folder; NTFS journals its metadata itself.
func syncDir(dir *os.Root) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := dir.Open(".")
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
