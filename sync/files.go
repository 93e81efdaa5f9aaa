package sync

import (
	"context"
	"errors"
	"io"
	"strings"
	"time"
)

// RemoteFile is a file or folder as the WebDAV server lists it.
type RemoteFile struct {
	// Path is relative to the account's root collection, "/"-separated,
	// decoded (no %-escapes), without a leading or trailing slash. The
	// root itself is never listed. It is exactly what the server named:
	// the engine, not the connector, decides whether it is a safe local
	// name.
	Path    string
	Dir     bool
	Size    int64     // bytes (getcontentlength); 0 for a folder
	ModTime time.Time // getlastmodified; zero when the server did not say
	ETag    string    // getetag as sent, quotes and any W/ kept; "" when none
}

// ErrFileNotFound is wrapped by FileRemote errors about a path the server
// does not have (404, 410).
var ErrFileNotFound = errors.New("no such file or folder on the server")

// ErrNoParent is wrapped by FileRemote errors about a path whose parent
// folder does not exist on the server (409 on PUT, MKCOL or MOVE).
var ErrNoParent = errors.New("the parent folder does not exist on the server")

// FileRemote is an authenticated WebDAV folder. Implementations are safe
// for concurrent use (transfers run in parallel). Errors are classified
// with the kinds of this package: 412 is Conflict, 401/403 Auth, 5xx,
// 507, 429, timeouts and resets Transient, other 4xx Permanent (413 too:
// that file is refused, the rest of the tree goes on).
//
// Conditions: an IfMatch that is a weak ETag (W/"x": Apache hands one
// out for about a second after a write, and If-Match compares strongly,
// so it could never match) is never sent as is. The implementation reads
// the resource's current ETag (PROPFIND) until the server offers the
// strong form of the same tag (a few seconds at most) and sends that; a
// different tag is a Conflict, a weak one still after the wait is
// Transient. A false conflict would cost the user a conflict copy.
type FileRemote interface {
	// List walks the tree below dir ("" for the root) and calls fn once
	// for every file and folder under it (not dir itself), each folder
	// before what it holds. fn is called from one goroutine at a time.
	// Where the server allows a depth-infinity PROPFIND that is one
	// request; otherwise folders are listed with depth 1, several at a
	// time. A missing dir is ErrFileNotFound.
	List(ctx context.Context, dir string, fn func(RemoteFile) error) error
	// Stat reads one entry (PROPFIND, depth 0).
	Stat(ctx context.Context, path string) (RemoteFile, error)
	// Get streams a file's content into w (never the whole file in
	// memory) and returns the version it served, from the response's
	// ETag, Last-Modified and Content-Length.
	Get(ctx context.Context, path string, w io.Writer) (RemoteFile, error)
	// Put streams size bytes of body to path under cond and returns the
	// new version. Where the response carries no ETag, or a weak one, it
	// is read back with a PROPFIND (and may still be weak). A missing
	// parent folder is ErrNoParent: nothing is created implicitly.
	Put(ctx context.Context, path string, body io.Reader, size int64, cond PutCondition) (RemoteFile, error)
	// Mkdir creates a folder (MKCOL). A folder that exists already is not
	// an error; a missing parent is ErrNoParent.
	Mkdir(ctx context.Context, path string) error
	// Move renames a file or a whole folder (MOVE, Overwrite: F). ifMatch,
	// when not "", is the source's expected ETag (a mismatch is Conflict).
	// An occupied destination is a Conflict too.
	Move(ctx context.Context, from, to, ifMatch string) error
	// Delete removes a file or a whole folder; ifMatch "" is
	// unconditional. A missing entry is ErrFileNotFound.
	Delete(ctx context.Context, path, ifMatch string) error
}

// SameETag compares two ETags weakly (RFC 9110 §8.8.3.2): equal opaque
// tags match whether or not either is weak. It is how the engine decides
// that a listed version is the one it already has: Apache's weak tag of
// a fresh write and its strong tag a second later name the same bytes.
// Empty tags never match.
func SameETag(a, b string) bool {
	a, b = strings.TrimPrefix(a, "W/"), strings.TrimPrefix(b, "W/")
	return a != "" && a == b
}

// LocalFile is a file or folder in the local folder.
type LocalFile struct {
	Path    string // relative to the folder, "/"-separated, never ""
	Dir     bool
	Size    int64
	ModTime time.Time // full precision, as the filesystem keeps it
}

// Same reports whether f and g look like the same version of a file:
// same kind, size and modification time. It is the cheap test that
// decides whether a file must be hashed again.
func (f LocalFile) Same(g LocalFile) bool {
	return f.Dir == g.Dir && f.Size == g.Size && f.ModTime.Equal(g.ModTime)
}

// ErrLocalChanged is wrapped by LocalFolder errors when a file changed
// between the moment its version was read and the moment it was used
// (being hashed, or about to be replaced): the caller looks again later.
var ErrLocalChanged = errors.New("the local file changed meanwhile")

// LocalFolder is the synced folder on the local disk. Paths are relative,
// "/"-separated, and already checked as safe by the engine; an
// implementation still refuses any that would leave the folder.
// Symbolic links are never followed: a link is not synced.
type LocalFolder interface {
	// Scan walks the folder and calls fn for every file and folder that
	// is not ignored (.holdoverignore, built-in temporary and editor
	// files, holdover's own temporary files), each folder before what
	// it holds. An entry that cannot be read is reported to fn with err
	// set and the walk goes on.
	Scan(ctx context.Context, fn func(f LocalFile, err error) error) error
	// Stat reads one entry; a missing one wraps fs.ErrNotExist.
	Stat(path string) (LocalFile, error)
	// Ignored reports whether path is excluded from sync.
	Ignored(path string, dir bool) bool
	// Hash returns the content hash of a file (hex SHA-256) and the
	// version that was hashed; ErrLocalChanged when it changed while
	// being read.
	Hash(ctx context.Context, path string) (string, LocalFile, error)
	// Open opens a file for reading (an upload) with its version.
	Open(path string) (io.ReadCloser, LocalFile, error)
	// Write creates or replaces a file: the content written by fill goes
	// to a temporary file in the same folder, is synced to disk, and is
	// renamed over path only if path still is expect (nil: path must not
	// exist), else ErrLocalChanged and nothing changes. Missing parent
	// folders are created. modTime, when not zero, is set on the file.
	// It returns the new version and its hash. A crash leaves at most a
	// temporary file, which Scan ignores and a later Write cleans up.
	Write(ctx context.Context, path string, expect *LocalFile, modTime time.Time, fill func(io.Writer) error) (LocalFile, string, error)
	// Rename moves a file or folder; the destination must not exist.
	Rename(from, to string) error
	// Remove deletes a file if it still is expect (else ErrLocalChanged),
	// or a folder if it is empty.
	Remove(path string, expect LocalFile) error
	// Mkdir creates a folder and any missing parents.
	Mkdir(path string) error
	// Watch reports changes until ctx ends: fn gets, after a short quiet
	// time, the paths that may have changed (files or folders, new,
	// changed or gone). A nil slice means "look at everything" (the
	// watcher lost events). Folders created later are watched too.
	Watch(ctx context.Context, fn func(paths []string)) error
	// CaseInsensitive reports whether the folder's filesystem treats
	// names that differ only in case as the same name.
	CaseInsensitive() bool
	// CheckName says why a path the server named cannot be a local path
	// ("..", an absolute path, NUL or control characters, a name the
	// local OS refuses, Unicode that disguises a path); nil when it can.
	CheckName(path string) error
	// FoldKey is the key under which two names collide on a
	// case-insensitive filesystem.
	FoldKey(path string) string
}
