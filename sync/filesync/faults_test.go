package filesync_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/filesync"
)

// Decorators over the real connectors inject what Apache and a disk will
// not do on demand; everything else is the real thing.

// noETags acts as a server that sends no ETags at all.
type noETags struct{ hsync.FileRemote }

func strip(f hsync.RemoteFile) hsync.RemoteFile { f.ETag = ""; return f }

func (r noETags) List(ctx context.Context, dir string, fn func(hsync.RemoteFile) error) error {
	return r.FileRemote.List(ctx, dir, func(f hsync.RemoteFile) error { return fn(strip(f)) })
}
func (r noETags) Stat(ctx context.Context, p string) (hsync.RemoteFile, error) {
	f, err := r.FileRemote.Stat(ctx, p)
	return strip(f), err
}
func (r noETags) Get(ctx context.Context, p string, w io.Writer) (hsync.RemoteFile, error) {
	f, err := r.FileRemote.Get(ctx, p, w)
	return strip(f), err
}
func (r noETags) Put(ctx context.Context, p string, body io.Reader, size int64, cond hsync.PutCondition) (hsync.RemoteFile, error) {
	if cond.IfMatch != "" {
		return hsync.RemoteFile{}, fmt.Errorf("the engine sent If-Match %s to a server without ETags", cond.IfMatch)
	}
	f, err := r.FileRemote.Put(ctx, p, body, size, cond)
	return strip(f), err
}
func (r noETags) Delete(ctx context.Context, p, ifMatch string) error {
	if ifMatch != "" {
		return fmt.Errorf("the engine sent If-Match %s to a server without ETags", ifMatch)
	}
	return r.FileRemote.Delete(ctx, p, "")
}

func TestServerWithoutETagsStillSyncsAndKeepsBothVersions(t *testing.T) {
	e := newEnv(t, func(o *filesync.Options) { o.Remote = noETags{o.Remote} })
	e.writeRemote(t, "a.txt", "a1")
	e.writeRemote(t, "b.txt", "b1")
	e.sync(t)
	e.writeLocal(t, "a.txt", "a2 local")
	e.sync(t)
	if got, _ := e.readRemote(t, "a.txt"); got != "a2 local" {
		t.Fatalf("server a.txt = %q", got)
	}
	time.Sleep(1100 * time.Millisecond) // HTTP dates have seconds: let the server's time move
	e.writeLocal(t, "b.txt", "b2 local")
	e.writeRemote(t, "b.txt", "b2 server, longer")
	e.sync(t)
	tree := e.localTree(t)
	copies := conflictCopies(tree)
	if len(copies) != 1 || tree["b.txt"] != "b2 server, longer" || tree[copies[0]] != "b2 local" {
		t.Fatalf("without ETags, a both-sides edit gave\n%s", dump(tree))
	}
}

// refuseOne answers 413 for one path: that file is reported, the rest of
// the tree syncs.
type refuseOne struct {
	hsync.FileRemote
	path string
}

func (r refuseOne) Put(ctx context.Context, p string, body io.Reader, size int64, cond hsync.PutCondition) (hsync.RemoteFile, error) {
	if p == r.path {
		return hsync.RemoteFile{}, hsync.Errorf(hsync.Permanent, "webdav put "+p, errors.New("413 Request Entity Too Large"))
	}
	return r.FileRemote.Put(ctx, p, body, size, cond)
}

func TestAFileTheServerRefusesIsReportedAndTheRestSyncs(t *testing.T) {
	e := newEnv(t, func(o *filesync.Options) { o.Remote = refuseOne{o.Remote, "huge.iso"} })
	e.writeLocal(t, "huge.iso", "pretend this is big")
	e.writeLocal(t, "small.txt", "fine")
	e.sync(t)
	if got, _ := e.readRemote(t, "small.txt"); got != "fine" {
		t.Fatalf("small.txt on the server = %q", got)
	}
	rows, _ := e.db.ListOutbox(context.Background(), store.OutboxFilter{Account: "work", State: store.OutboxDead})
	if len(rows) != 1 || !strings.Contains(rows[0].LastError, "413") || !strings.Contains(string(rows[0].Payload), "huge.iso") {
		t.Fatalf("dead actions %+v: want the refused upload, with its reason", rows)
	}
	if _, ok := e.readLocal(t, "huge.iso"); !ok {
		t.Fatal("the refused file is gone from the folder")
	}
	if p, ok := filesync.ActionPath(rows[0]); !ok || p != "huge.iso" {
		t.Fatalf("ActionPath = %q, %v", p, ok)
	}
}

// fullDisk fails every write once armed, as a full disk does.
type fullDisk struct {
	hsync.LocalFolder
	full *bool
}

func (f fullDisk) Write(ctx context.Context, p string, expect *hsync.LocalFile, mt time.Time, fill func(io.Writer) error) (hsync.LocalFile, string, error) {
	if *f.full {
		return hsync.LocalFile{}, "", &os.PathError{Op: "write", Path: p, Err: syscall.ENOSPC}
	}
	return f.LocalFolder.Write(ctx, p, expect, mt, fill)
}

func TestAFullDiskStopsDownloadsClearlyAndTheyResume(t *testing.T) {
	full := true
	e := newEnv(t, func(o *filesync.Options) { o.Local = fullDisk{o.Local, &full} })
	for i := range 5 {
		e.writeRemote(t, fmt.Sprintf("f%d.txt", i), "content")
	}
	_, err := e.eng.Sync(context.Background(), filesync.SyncOptions{})
	if !errors.Is(err, filesync.ErrDiskFull) {
		t.Fatalf("pass on a full disk: %v, want ErrDiskFull", err)
	}
	st, _ := e.db.FileRoot(context.Background(), "work")
	if !strings.Contains(st.LastError, "disk is full") || st.PendingDown == 0 {
		t.Fatalf("status after a full disk: %+v", st)
	}
	if got := e.localTree(t); len(got) != 0 {
		t.Fatalf("files written on a full disk:\n%s", dump(got))
	}
	full = false
	e.sync(t)
	if got := e.localTree(t); len(got) != 5 {
		t.Fatalf("after space returned:\n%s", dump(got))
	}
	e.integrity(t)
}

// tornUpload changes the local file while its upload is being read, once.
type tornUpload struct {
	hsync.FileRemote
	dir  string
	done *bool
}

func (r tornUpload) Put(ctx context.Context, p string, body io.Reader, size int64, cond hsync.PutCondition) (hsync.RemoteFile, error) {
	if !*r.done && p == "doc.txt" {
		*r.done = true
		half := io.LimitReader(body, size/2)
		b, _ := io.ReadAll(half)
		later := time.Now().Add(time.Second)
		os.WriteFile(filepath.Join(r.dir, "doc.txt"), []byte("the final version, saved during the upload"), 0o644)
		os.Chtimes(filepath.Join(r.dir, "doc.txt"), later, later)
		body = io.MultiReader(strings.NewReader(string(b)), body)
	}
	return r.FileRemote.Put(ctx, p, body, size, cond)
}

func TestAFileChangedDuringItsUploadIsUploadedAgain(t *testing.T) {
	done := false
	var dir string
	e := newEnv(t, func(o *filesync.Options) {
		dir = o.Local.(interface{ Root() string }).Root()
		o.Remote = tornUpload{o.Remote, dir, &done}
	})
	e.writeLocal(t, "doc.txt", "the first version of the document")
	e.sync(t)
	if !done {
		t.Fatal("the upload was not torn")
	}
	if got, _ := e.readRemote(t, "doc.txt"); got != "the final version, saved during the upload" {
		t.Fatalf("server has %q: a torn upload was left as final", got)
	}
	// One file: no conflict copy of a version nobody saved.
	e.sameTrees(t, map[string]string{"doc.txt": "the final version, saved during the upload"})
}

// caseless acts as a case-insensitive disk.
type caseless struct{ hsync.LocalFolder }

func (caseless) CaseInsensitive() bool { return true }

func TestNamesDifferingOnlyInCaseAreAConflictNotAnOverwrite(t *testing.T) {
	e := newEnv(t, func(o *filesync.Options) { o.Local = caseless{o.Local} })
	e.writeRemote(t, "Report.txt", "upper")
	e.writeRemote(t, "report.txt", "lower")
	e.sync(t)
	tree := e.localTree(t)
	if len(tree) != 1 {
		t.Fatalf("local tree:\n%s", dump(tree))
	}
	root, _ := e.db.FileRoot(context.Background(), "work")
	if len(root.Problems) != 1 || !strings.Contains(root.Problems[0].Problem, "differs only in case") {
		t.Fatalf("problems %+v", root.Problems)
	}
}
