package webdav_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/webdav"
	"github.com/holdover/holdover/internal/faultproxy"
	hsync "github.com/holdover/holdover/sync"
)

// The protocol is specified against a real Apache httpd with mod_dav_fs
// (internal/testenv): what it answers is what the connector must handle.

// oddNames are folder and file names that need escaping or survive it
// only if every segment is escaped once and decoded once.
var oddNames = struct{ dirs, files []string }{
	dirs: []string{"docs", "docs/empty", "docs/sub dir", "100% #1 ?x", "ünïcødé", "ünïcødé/深い"},
	files: []string{"top.txt", "docs/a.txt", "docs/sub dir/b c.txt", "100% #1 ?x/50%off #tag?.txt",
		"ünïcødé/naïve 日本.txt", "ünïcødé/深い/x", "a&b@c+d=e;f,g'h.txt", "%2F not a slash", "trailing space "},
}

func seedOddTree(t *testing.T, c *webdav.Client) []string {
	t.Helper()
	var want []string
	for _, d := range oddNames.dirs {
		if err := c.Mkdir(context.Background(), d); err != nil {
			t.Fatalf("Mkdir %q: %v", d, err)
		}
		want = append(want, d+"/")
	}
	for _, f := range oddNames.files {
		put(t, c, f, "content of "+f)
		want = append(want, f+"="+strconv.Itoa(len("content of "+f)))
	}
	slices.Sort(want)
	return want
}

func TestApacheListsANestedTreeWithOddNamesEachFolderBeforeItsContents(t *testing.T) {
	c, _, cnt := apacheClient(t)
	want := seedOddTree(t, c)
	cnt.reset()

	got := list(t, c)
	if s := shape(got); !slices.Equal(s, want) {
		t.Fatalf("List =\n%q\nwant\n%q", s, want)
	}
	for p, f := range got {
		if f.ETag == "" || f.ModTime.IsZero() {
			t.Errorf("%q: ETag %q, ModTime %v; Apache gives both", p, f.ETag, f.ModTime)
		}
	}
	// Apache refuses depth infinity (DavDepthInfinity Off): one try, then
	// one depth-1 PROPFIND per folder, root included.
	if n, m := cnt.count("PROPFIND infinity"), cnt.count("PROPFIND 1"); n != 1 || m != len(oddNames.dirs)+1 {
		t.Errorf("first listing: %d depth-infinity and %d depth-1 PROPFINDs, want 1 and %d", n, m, len(oddNames.dirs)+1)
	}
	cnt.reset()
	list(t, c)
	if n := cnt.count("PROPFIND infinity"); n != 0 {
		t.Errorf("second listing asked for depth infinity again (%d times): the refusal must be remembered", n)
	}

	// Stat agrees with the listing, for files, folders and the root.
	for _, p := range []string{"docs/sub dir/b c.txt", "100% #1 ?x", "ünïcødé/naïve 日本.txt"} {
		f, err := c.Stat(context.Background(), p)
		if err != nil || f != got[p] {
			t.Errorf("Stat %q = %+v, %v; List said %+v", p, f, err, got[p])
		}
	}
	if root, err := c.Stat(context.Background(), ""); err != nil || !root.Dir || root.Path != "" {
		t.Errorf("Stat of the root = %+v, %v", root, err)
	}
	_, err := c.Stat(context.Background(), "docs/nope")
	if !errors.Is(err, hsync.ErrFileNotFound) {
		t.Errorf("Stat of a missing path: %v", err)
	}
}

func TestApacheListsAFolderSeededByAnotherClientWithItsOwnEscaping(t *testing.T) {
	c, a, _ := apacheClient(t)
	// Another client escapes what url.PathEscape leaves alone, and
	// leaves what it escapes: the names are the same.
	if st, _ := raw(t, a, "MKCOL", "x%40y%26z/", nil, ""); st != http.StatusCreated {
		t.Fatalf("MKCOL: %d", st)
	}
	if st, _ := raw(t, a, "PUT", "x@y&z/%C3%A9t%C3%A9%20%2B%3D.txt", nil, "summer"); st != http.StatusCreated {
		t.Fatalf("PUT: %d", st)
	}
	if s, want := shape(list(t, c)), []string{"x@y&z/", "x@y&z/été +=.txt=6"}; !slices.Equal(s, want) {
		t.Fatalf("List = %q, want %q", s, want)
	}
	if body, _ := get(t, c, "x@y&z/été +=.txt"); body != "summer" {
		t.Fatalf("Get = %q", body)
	}
}

func TestApacheGetStreamsTheContentAndTheVersionServed(t *testing.T) {
	c, _, _ := apacheClient(t)
	ctx := context.Background()
	put(t, c, "a b.txt", "hello, world")
	time.Sleep(1100 * time.Millisecond) // Apache's ETag turns strong
	body, f := get(t, c, "a b.txt")
	if body != "hello, world" || f.Size != 12 || f.Path != "a b.txt" || f.ModTime.IsZero() {
		t.Fatalf("Get = %q, %+v", body, f)
	}
	st, err := c.Stat(ctx, "a b.txt")
	if err != nil || st.ETag != f.ETag {
		t.Fatalf("Get's ETag %q, Stat's %q (%v): one version, one tag", f.ETag, st.ETag, err)
	}

	_, err = c.Get(ctx, "missing.txt", &strings.Builder{})
	kindIs(t, "Get of a missing file", err, hsync.Permanent)
	if !errors.Is(err, hsync.ErrFileNotFound) {
		t.Fatalf("Get of a missing file: %v does not wrap ErrFileNotFound", err)
	}
}

func TestApachePutCreatesOnlyWhereNothingIs(t *testing.T) {
	c, _, cnt := apacheClient(t)
	ctx := context.Background()
	v1 := put(t, c, "new.txt", "one")
	if v1.Path != "new.txt" || v1.Size != 3 || v1.ETag == "" {
		t.Fatalf("create = %+v", v1)
	}
	_, err := c.Put(ctx, "new.txt", strings.NewReader("two"), 3, hsync.PutCondition{Create: true})
	kindIs(t, "second create of one name", err, hsync.Conflict)
	if body, _ := get(t, c, "new.txt"); body != "one" {
		t.Fatalf("the refused create changed the file: %q", body)
	}

	_, err = c.Put(ctx, "no/such/folder.txt", strings.NewReader("x"), 1, hsync.PutCondition{Create: true})
	if !errors.Is(err, hsync.ErrNoParent) {
		t.Fatalf("Put under a missing folder: %v, want ErrNoParent", err)
	}

	cnt.reset()
	_, err = c.Put(ctx, "new.txt", strings.NewReader("x"), 1, hsync.PutCondition{})
	kindIs(t, "unconditional Put", err, hsync.Permanent)
	_, err = c.Put(ctx, "../escape.txt", strings.NewReader("x"), 1, hsync.PutCondition{Create: true})
	kindIs(t, "Put to a path with a dot segment", err, hsync.Permanent)
	if n := cnt.count("PUT"); n != 0 {
		t.Fatalf("%d PUTs sent for refused requests", n)
	}
}

func TestApachePutRightAfterAWriteWithItsWeakETagSucceeds(t *testing.T) {
	c, _, cnt := apacheClient(t)
	ctx := context.Background()
	v1 := put(t, c, "doc.txt", "v1")
	if !strings.HasPrefix(v1.ETag, "W/") {
		t.Fatalf("Apache's tag right after a write is %q; this test needs the weak one", v1.ETag)
	}
	cnt.reset()
	start := time.Now()
	v2, err := c.Put(ctx, "doc.txt", strings.NewReader("v2!"), 3, hsync.PutCondition{IfMatch: v1.ETag})
	if err != nil {
		t.Fatalf("update with the weak ETag of the previous write: %v (a false conflict)", err)
	}
	if time.Since(start) > 3*time.Second || cnt.count("PROPFIND 0") < 2 {
		t.Errorf("took %v and %d PROPFINDs: the tag should turn strong within about a second", time.Since(start), cnt.count("PROPFIND 0"))
	}
	if v2.Size != 3 || hsync.SameETag(v2.ETag, v1.ETag) {
		t.Fatalf("update = %+v after %+v", v2, v1)
	}
	if body, _ := get(t, c, "doc.txt"); body != "v2!" {
		t.Fatalf("content %q", body)
	}

	// And at once again, with v2's weak tag: a chain of saves works.
	if _, err := c.Put(ctx, "doc.txt", strings.NewReader("v3"), 2, hsync.PutCondition{IfMatch: v2.ETag}); err != nil {
		t.Fatalf("update with the weak ETag of the previous update: %v", err)
	}
}

func TestApachePutWithAStaleETagIsAConflict(t *testing.T) {
	c, a, _ := apacheClient(t)
	ctx := context.Background()
	v1 := put(t, c, "doc.txt", "v1")
	time.Sleep(1100 * time.Millisecond)
	// Someone else saves a new version (another length: a new tag even
	// within Apache's one-second mtime precision).
	if st, _ := raw(t, a, "PUT", "doc.txt", nil, "theirs"); st != http.StatusNoContent {
		t.Fatalf("their PUT: %d", st)
	}
	start := time.Now()
	_, err := c.Put(ctx, "doc.txt", strings.NewReader("mine"), 4, hsync.PutCondition{IfMatch: v1.ETag})
	kindIs(t, "update based on a weak stale ETag", err, hsync.Conflict)
	if time.Since(start) > time.Second {
		t.Errorf("a different tag is a conflict at once, not after the weak-tag wait (%v)", time.Since(start))
	}
	strong := strings.TrimPrefix(v1.ETag, "W/")
	_, err = c.Put(ctx, "doc.txt", strings.NewReader("mine"), 4, hsync.PutCondition{IfMatch: strong})
	kindIs(t, "update based on a strong stale ETag", err, hsync.Conflict)
	if body, _ := get(t, c, "doc.txt"); body != "theirs" {
		t.Fatalf("a refused update changed the file: %q", body)
	}

	// Gone meanwhile: a conflict too (the engine keeps the local copy).
	if st, _ := raw(t, a, "DELETE", "doc.txt", nil, ""); st != http.StatusNoContent {
		t.Fatalf("their DELETE: %d", st)
	}
	_, err = c.Put(ctx, "doc.txt", strings.NewReader("mine"), 4, hsync.PutCondition{IfMatch: v1.ETag})
	kindIs(t, "update of a file deleted meanwhile", err, hsync.Conflict)
}

func TestApacheMkdir(t *testing.T) {
	c, _, _ := apacheClient(t)
	ctx := context.Background()
	if err := c.Mkdir(ctx, "new folder"); err != nil {
		t.Fatal(err)
	}
	if f, err := c.Stat(ctx, "new folder"); err != nil || !f.Dir {
		t.Fatalf("Stat after Mkdir = %+v, %v", f, err)
	}
	if err := c.Mkdir(ctx, "new folder"); err != nil {
		t.Fatalf("Mkdir of an existing folder: %v, want nil", err)
	}
	err := c.Mkdir(ctx, "missing/child")
	if !errors.Is(err, hsync.ErrNoParent) {
		t.Fatalf("Mkdir under a missing folder: %v, want ErrNoParent", err)
	}
	put(t, c, "file", "f")
	kindIs(t, "Mkdir where a file is", c.Mkdir(ctx, "file"), hsync.Conflict)
}

func TestApacheMoveRenamesFilesAndFoldersWithoutOverwriting(t *testing.T) {
	c, a, _ := apacheClient(t)
	ctx := context.Background()
	v1 := put(t, c, "a b.txt", "a")
	// A weak tag from a fresh write is fine for Move too.
	if err := c.Move(ctx, "a b.txt", "c d.txt", v1.ETag); err != nil {
		t.Fatalf("Move with the fresh weak ETag: %v", err)
	}
	moved, err := c.Stat(ctx, "c d.txt")
	if err != nil || !hsync.SameETag(moved.ETag, v1.ETag) {
		t.Errorf("after MOVE: %+v, %v; Apache keeps the ETag (size and mtime) of %s", moved, err, v1.ETag)
	}
	if _, err := c.Stat(ctx, "a b.txt"); !errors.Is(err, hsync.ErrFileNotFound) {
		t.Fatalf("the source is still there: %v", err)
	}

	put(t, c, "taken.txt", "taken")
	kindIs(t, "Move onto an occupied name", c.Move(ctx, "c d.txt", "taken.txt", ""), hsync.Conflict)
	if body, _ := get(t, c, "taken.txt"); body != "taken" {
		t.Fatalf("the destination was overwritten: %q", body)
	}

	time.Sleep(1100 * time.Millisecond)
	if st, _ := raw(t, a, "PUT", "c%20d.txt", nil, "changed"); st != http.StatusNoContent {
		t.Fatalf("their PUT: %d", st)
	}
	kindIs(t, "Move with a stale ETag", c.Move(ctx, "c d.txt", "e.txt", moved.ETag), hsync.Conflict)
	if body, _ := get(t, c, "c d.txt"); body != "changed" {
		t.Fatalf("the source changed: %q", body)
	}

	// Apache answers 500 here (its rename fails with ENOENT).
	for _, to := range []string{"no/such/dir.txt", "nope/x.txt"} {
		err = c.Move(ctx, "c d.txt", to, "")
		if !errors.Is(err, hsync.ErrNoParent) {
			t.Fatalf("Move into a missing folder (%s): %v, want ErrNoParent", to, err)
		}
	}
	if err := c.Move(ctx, "gone.txt", "x.txt", ""); !errors.Is(err, hsync.ErrFileNotFound) {
		t.Fatalf("Move of a missing file: %v, want ErrFileNotFound", err)
	}

	// A folder moves whole.
	if err := c.Mkdir(ctx, "dir #1"); err != nil {
		t.Fatal(err)
	}
	put(t, c, "dir #1/inner.txt", "inner")
	if err := c.Move(ctx, "dir #1", "dir 2", ""); err != nil {
		t.Fatalf("Move of a folder: %v", err)
	}
	if body, _ := get(t, c, "dir 2/inner.txt"); body != "inner" {
		t.Fatalf("moved folder content %q", body)
	}
	if err := c.Mkdir(ctx, "dir 3"); err != nil {
		t.Fatal(err)
	}
	kindIs(t, "Move of a folder onto a folder", c.Move(ctx, "dir 2", "dir 3", ""), hsync.Conflict)
}

// Why Move sends a tagged If header: Apache checks an untagged one
// against the source's parent folder too (whose tag differs), so a
// matching tag fails with 424; a tagged one applies to the source only.
func TestApacheIfHeaderOnMoveMustBeTagged(t *testing.T) {
	_, a, _ := apacheClient(t)
	raw(t, a, "PUT", "f%20x", nil, "f")
	time.Sleep(1100 * time.Millisecond)
	_, h := raw(t, a, "HEAD", "f%20x", nil, "")
	tag := h.Get("ETag")
	move := func(ifHeader string) int {
		st, _ := raw(t, a, "MOVE", "f%20x", map[string]string{"Destination": a.URL + "g", "Overwrite": "F", "If": ifHeader}, "")
		return st
	}
	if st := move("([" + tag + "])"); st != http.StatusFailedDependency {
		t.Errorf("untagged If with the right tag: %d; the connector relies on the tagged form because this was 424", st)
	}
	if st := move("<" + a.URL + "f%20x> ([\"other\"])"); st != http.StatusPreconditionFailed {
		t.Errorf("tagged If with another tag: %d, want 412", st)
	}
	if st := move("<" + a.URL + "f%20x> ([" + tag + "])"); st != http.StatusCreated {
		t.Errorf("tagged If with the right tag: %d, want 201", st)
	}
}

func TestApacheDelete(t *testing.T) {
	c, a, _ := apacheClient(t)
	ctx := context.Background()
	v1 := put(t, c, "x y.txt", "x")
	if err := c.Delete(ctx, "x y.txt", v1.ETag); err != nil {
		t.Fatalf("Delete with the fresh weak ETag: %v", err)
	}
	if err := c.Delete(ctx, "x y.txt", ""); !errors.Is(err, hsync.ErrFileNotFound) {
		t.Fatalf("Delete of a missing file: %v, want ErrFileNotFound", err)
	}
	if err := c.Delete(ctx, "x y.txt", v1.ETag); !errors.Is(err, hsync.ErrFileNotFound) {
		t.Fatalf("conditional Delete of a missing file: %v, want ErrFileNotFound", err)
	}
	if err := c.Delete(ctx, "x y.txt", strings.TrimPrefix(v1.ETag, "W/")); !errors.Is(err, hsync.ErrFileNotFound) {
		t.Fatalf("conditional Delete (strong tag) of a missing file: %v, want ErrFileNotFound", err)
	}

	v2 := put(t, c, "kept.txt", "1")
	time.Sleep(1100 * time.Millisecond)
	raw(t, a, "PUT", "kept.txt", nil, "22")
	kindIs(t, "Delete with a stale ETag", c.Delete(ctx, "kept.txt", v2.ETag), hsync.Conflict)
	if body, _ := get(t, c, "kept.txt"); body != "22" {
		t.Fatalf("kept.txt = %q", body)
	}

	if err := c.Mkdir(ctx, "tree"); err != nil {
		t.Fatal(err)
	}
	put(t, c, "tree/leaf", "l")
	if err := c.Delete(ctx, "tree", ""); err != nil {
		t.Fatalf("Delete of a folder: %v", err)
	}
	if _, err := c.Stat(ctx, "tree/leaf"); !errors.Is(err, hsync.ErrFileNotFound) {
		t.Fatalf("the folder's content is still there: %v", err)
	}
}

func TestApacheWrongPasswordIsAuthAndNeverShown(t *testing.T) {
	_, a, _ := apacheClient(t)
	const wrong = "wr0ng-Pa55word"
	c, err := webdav.New(webdav.Options{URL: a.URL, Username: a.User,
		Password: func(context.Context) (string, error) { return wrong, nil }})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	errs := map[string]error{
		"List":  c.List(ctx, "", func(hsync.RemoteFile) error { return nil }),
		"Mkdir": c.Mkdir(ctx, "d"),
	}
	_, errs["Put"] = c.Put(ctx, "f", strings.NewReader("f"), 1, hsync.PutCondition{Create: true})
	_, errs["Get"] = c.Get(ctx, "f", &strings.Builder{})
	for what, err := range errs {
		kindIs(t, what+" with a wrong password", err, hsync.Auth)
		if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), a.Password) {
			t.Errorf("%s: the error shows a password: %v", what, err)
		}
	}
}

func TestApacheBehindAnOutageIsTransientAndRecovers(t *testing.T) {
	_, a, _ := apacheClient(t)
	u, _ := url.Parse(a.URL)
	p, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, err := webdav.New(webdav.Options{URL: "http://" + p.Addr() + u.Path, Username: a.User,
		Password: func(context.Context) (string, error) { return a.Password, nil }, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put(t, c, "big", strings.Repeat("x", 1<<20))

	// Cut mid-body: an error, never a short success.
	p.CutAfter(64 << 10)
	p.CutAll() // the pooled connection is not cut; the next one is
	n := 0
	f, err := c.Get(ctx, "big", writerFunc(func(b []byte) (int, error) { n += len(b); return len(b), nil }))
	kindIs(t, "Get cut in the middle", err, hsync.Transient)
	if n >= 1<<20 {
		t.Fatalf("got all %d bytes through a cut connection (%+v)", n, f)
	}
	p.CutAfter(0)

	p.Down()
	kindIs(t, "List while the server is down", c.List(ctx, "", func(hsync.RemoteFile) error { return nil }), hsync.Transient)
	_, err = c.Put(ctx, "new", strings.NewReader("n"), 1, hsync.PutCondition{Create: true})
	kindIs(t, "Put while the server is down", err, hsync.Transient)
	p.Up()
	if got := shape(list(t, c)); !slices.Equal(got, []string{"big=1048576"}) {
		t.Fatalf("after the outage: %q", got)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

func TestListOfAFolderReportsOnlyWhatLiesBelowIt(t *testing.T) {
	c, _, _ := apacheClient(t)
	ctx := context.Background()
	for _, d := range []string{"a", "a/b", "ab"} {
		if err := c.Mkdir(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	put(t, c, "a/x.txt", "x")
	put(t, c, "a/b/y.txt", "y")
	put(t, c, "ab/z.txt", "z")
	var got []string
	if err := c.List(ctx, "a", func(f hsync.RemoteFile) error { got = append(got, f.Path); return nil }); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	if want := []string{"a/b", "a/b/y.txt", "a/x.txt"}; !slices.Equal(got, want) {
		t.Errorf("List(a) = %v, want %v", got, want)
	}
	err := c.List(ctx, "missing", func(hsync.RemoteFile) error { return nil })
	if !errors.Is(err, hsync.ErrFileNotFound) {
		t.Errorf("List(missing) = %v, want ErrFileNotFound", err)
	}
}
