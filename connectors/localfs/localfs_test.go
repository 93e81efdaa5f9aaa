package localfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

func TestOpenRefusesAMissingRootAndAFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "nope"), Options{}); err == nil {
		t.Error("a missing root was opened")
	}
	write(t, dir, "file", "x")
	if _, err := Open(filepath.Join(dir, "file"), Options{}); err == nil {
		t.Error("a file was opened as a root")
	}
}

func TestOpenResolvesTheRootToAnAbsolutePathWithoutLinks(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	f, err := Open(link, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	want, _ := filepath.EvalSymlinks(real)
	if f.Root() != want {
		t.Errorf("Root() = %q, want %q", f.Root(), want)
	}
	if len(tempFiles(t, real)) != 0 {
		t.Errorf("the case probe left %q", tempFiles(t, real))
	}
}

func TestCaseSensitivityIsProbed(t *testing.T) {
	f, root := newFolder(t, Options{})
	// The probe's answer must match what the filesystem does.
	write(t, root, "Probe", "x")
	_, err := os.Lstat(filepath.Join(root, "pROBE"))
	if f.CaseInsensitive() != (err == nil) {
		t.Errorf("CaseInsensitive() = %v, but looking up the swapped name gave %v", f.CaseInsensitive(), err)
	}
}

func TestScanListsEachFolderBeforeItsContentInLexicalOrder(t *testing.T) {
	f, root := newFolder(t, Options{})
	for _, p := range []string{"b/z.txt", "b/a/1.txt", "a.txt", "B.txt", "c/d/e/f.txt"} {
		write(t, root, p, p)
	}
	os.Mkdir(filepath.Join(root, "empty"), 0o755)
	want := []string{"B.txt", "a.txt", "b/", "b/a/", "b/a/1.txt", "b/z.txt", "c/", "c/d/", "c/d/e/", "c/d/e/f.txt", "empty/"}
	if got := scan(t, f); !slices.Equal(got, want) {
		t.Errorf("scan:\n got %q\nwant %q", got, want)
	}
}

func TestScanReportsSizeAndTheFullMtime(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "d/f.txt", "hello")
	mtime := time.Date(2024, 2, 29, 12, 34, 56, 123456789, time.UTC)
	os.Chtimes(filepath.Join(root, "d/f.txt"), mtime, mtime)
	var got []hsync.LocalFile
	f.Scan(context.Background(), func(lf hsync.LocalFile, err error) error {
		got = append(got, lf)
		return err
	})
	if len(got) != 2 || !got[0].Dir || got[0].Size != 0 || got[1].Size != 5 || !got[1].ModTime.Equal(mtime) {
		t.Fatalf("scan: %+v", got)
	}
	st, _ := f.Stat("d/f.txt")
	if !st.Same(got[1]) {
		t.Errorf("Stat %+v is not the scanned %+v", st, got[1])
	}
}

func TestScanSkipsIgnoredEntriesAndDoesNotEnterIgnoredFolders(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, IgnoreFile, "node_modules/\n*.log\n")
	for _, p := range []string{"a.txt", "a.log", "node_modules/x/y.js", "src/node_modules/z.js", "src/.DS_Store",
		"src/~$doc.docx", "src/doc.docx", ".holdover-tmp-abc", "src/.holdover-tmp-def"} {
		write(t, root, p, p)
	}
	entered := []string{}
	testHookReadDir = func(rel string) error { entered = append(entered, rel); return nil }
	defer func() { testHookReadDir = nil }()
	want := []string{IgnoreFile, "a.txt", "src/", "src/doc.docx"}
	if got := scan(t, f); !slices.Equal(got, want) {
		t.Errorf("scan:\n got %q\nwant %q", got, want)
	}
	if !slices.Equal(entered, []string{"", "src"}) {
		t.Errorf("listed folders %q, want only the root and src", entered)
	}
}

func TestScanSkipsSymbolicLinks(t *testing.T) {
	f, root := newFolder(t, Options{})
	outside := t.TempDir()
	write(t, outside, "secret.txt", "secret")
	write(t, root, "real/f.txt", "f")
	for link, target := range map[string]string{
		"to-outside-dir": outside, "to-outside-file": filepath.Join(outside, "secret.txt"),
		"to-inside-dir": "real", "real/to-inside-file": "f.txt", "dangling": "nowhere",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"real/", "real/f.txt"}
	if got := scan(t, f); !slices.Equal(got, want) {
		t.Errorf("scan:\n got %q\nwant %q", got, want)
	}
}

func TestScanReportsAnUnreadableFolderOnceAndGoesOn(t *testing.T) {
	t.Run("listing fails", func(t *testing.T) {
		f, root := newFolder(t, Options{})
		write(t, root, "a/1.txt", "1")
		write(t, root, "b/2.txt", "2")
		write(t, root, "c.txt", "c")
		testHookReadDir = func(rel string) error {
			if rel == "b" {
				return fs.ErrPermission
			}
			return nil
		}
		defer func() { testHookReadDir = nil }()
		want := []string{"a/", "a/1.txt", "b/!", "c.txt"}
		if got := scan(t, f); !slices.Equal(got, want) {
			t.Errorf("scan:\n got %q\nwant %q", got, want)
		}
	})
	t.Run("permission bits", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root, which reads a folder whatever its mode; the subtest above injects the same failure")
		}
		f, root := newFolder(t, Options{})
		write(t, root, "a/1.txt", "1")
		write(t, root, "b/2.txt", "2")
		write(t, root, "c.txt", "c")
		os.Chmod(filepath.Join(root, "b"), 0)
		defer os.Chmod(filepath.Join(root, "b"), 0o755)
		want := []string{"a/", "a/1.txt", "b/!", "c.txt"}
		if got := scan(t, f); !slices.Equal(got, want) {
			t.Errorf("scan:\n got %q\nwant %q", got, want)
		}
	})
}

func TestScanStopsAtTheFirstErrorOfFn(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "a.txt", "a")
	write(t, root, "b.txt", "b")
	stop := errors.New("stop")
	calls := 0
	err := f.Scan(context.Background(), func(hsync.LocalFile, error) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("Scan = %v after %d calls, want stop after 1", err, calls)
	}
}

func TestScanRemovesOnlyStaleTemporaryFiles(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "d/.holdover-tmp-old", "crash leftover")
	write(t, root, "d/.holdover-tmp-new", "a write in progress elsewhere")
	old := time.Now().Add(-2 * staleAfter)
	os.Chtimes(filepath.Join(root, "d/.holdover-tmp-old"), old, old)
	scan(t, f)
	if _, err := os.Lstat(filepath.Join(root, "d/.holdover-tmp-old")); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a stale temporary file was kept")
	}
	if _, err := os.Lstat(filepath.Join(root, "d/.holdover-tmp-new")); err != nil {
		t.Error("a recent temporary file was removed")
	}
}

func TestStat(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "d/f.txt", "abc")
	os.Symlink("f.txt", filepath.Join(root, "d/link"))
	if lf, err := f.Stat("d/f.txt"); err != nil || lf.Path != "d/f.txt" || lf.Size != 3 || lf.Dir {
		t.Errorf("Stat(d/f.txt) = %+v, %v", lf, err)
	}
	if lf, err := f.Stat("d"); err != nil || !lf.Dir {
		t.Errorf("Stat(d) = %+v, %v", lf, err)
	}
	for _, p := range []string{"missing", "d/missing", "missing/f", "d/f.txt/below"} {
		if _, err := f.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want fs.ErrNotExist", p, err)
		}
	}
	if _, err := f.Stat("d/link"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Stat of a link = %v, want ErrSymlink", err)
	}
	// A link that stays inside is not followed either: it is not synced.
	os.Symlink("d", filepath.Join(root, "inlink"))
	if _, err := f.Stat("inlink/f.txt"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Stat below a link inside the root = %v, want ErrSymlink", err)
	}
	if _, _, err := f.Open("inlink/f.txt"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Open below a link inside the root = %v, want ErrSymlink", err)
	}
}

func TestOpenReadsAFileAndItsVersion(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "d/f.txt", "content")
	rc, lf, err := f.Open("d/f.txt")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(rc)
	rc.Close()
	st, _ := f.Stat("d/f.txt")
	if string(b) != "content" || !lf.Same(st) || lf.Path != "d/f.txt" {
		t.Errorf("Open = %q, %+v; Stat %+v", b, lf, st)
	}
	if _, _, err := f.Open("d"); err == nil {
		t.Error("a folder was opened")
	}
}

func TestHash(t *testing.T) {
	f, root := newFolder(t, Options{})
	content := strings.Repeat("0123456789", 100_000) // several reads
	write(t, root, "big.bin", content)
	sum := sha256.Sum256([]byte(content))
	h, lf, err := f.Hash(context.Background(), "big.bin")
	if err != nil || h != hex.EncodeToString(sum[:]) || lf.Size != int64(len(content)) {
		t.Fatalf("Hash = %s, %+v, %v", h, lf, err)
	}
	if _, _, err := f.Hash(context.Background(), "missing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Hash of a missing file: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := f.Hash(ctx, "big.bin"); !errors.Is(err, context.Canceled) {
		t.Errorf("Hash with a cancelled context: %v", err)
	}
}

func TestHashDetectsAChangeDuringTheRead(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, p string)
	}{
		{"appended to", func(t *testing.T, p string) {
			fh, _ := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
			fh.WriteString("more")
			fh.Close()
		}},
		{"rewritten in place, same size, new mtime", func(t *testing.T, p string) {
			fh, _ := os.OpenFile(p, os.O_WRONLY, 0)
			fh.WriteAt([]byte("X"), 10)
			fh.Close()
			later := time.Now().Add(time.Second)
			os.Chtimes(p, later, later)
		}},
		{"replaced by a rename", func(t *testing.T, p string) {
			os.WriteFile(p+".new", []byte("other"), 0o644)
			os.Rename(p+".new", p)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, root := newFolder(t, Options{})
			write(t, root, "f.bin", strings.Repeat("a", 1<<20))
			testHookHashRead = func(string) { tt.change(t, filepath.Join(root, "f.bin")) }
			defer func() { testHookHashRead = nil }()
			if _, _, err := f.Hash(context.Background(), "f.bin"); !errors.Is(err, hsync.ErrLocalChanged) {
				t.Errorf("Hash = %v, want ErrLocalChanged", err)
			}
		})
	}
}

func TestALinkIsNeverFollowedOutOfTheRoot(t *testing.T) {
	f, root := newFolder(t, Options{})
	outside := t.TempDir()
	write(t, outside, "secret.txt", "secret")
	write(t, outside, "sub/x", "x")
	write(t, root, "a.txt", "a")
	os.Symlink(outside, filepath.Join(root, "dirlink"))
	os.Symlink(filepath.Join(outside, "secret.txt"), filepath.Join(root, "filelink"))
	os.Symlink("..", filepath.Join(root, "up"))
	before := snapshot(t, outside)
	ctx := context.Background()
	fill := func(w io.Writer) error { _, err := io.WriteString(w, "pwned"); return err }
	ok := func(what string, err error) {
		t.Helper()
		if err == nil {
			t.Errorf("%s through a link succeeded", what)
		}
	}
	for _, p := range []string{"dirlink/secret.txt", "filelink", "up/" + filepath.Base(root) + "/a.txt"} {
		_, err := f.Stat(p)
		ok("Stat "+p, err)
		_, _, err = f.Open(p)
		ok("Open "+p, err)
		_, _, err = f.Hash(ctx, p)
		ok("Hash "+p, err)
	}
	_, err := f.Stat("dirlink/secret.txt")
	if !errors.Is(err, ErrSymlink) {
		t.Errorf("Stat below a link = %v, want ErrSymlink", err)
	}
	_, _, err = f.Write(ctx, "dirlink/new.txt", nil, time.Time{}, fill)
	ok("Write below a link", err)
	_, _, err = f.Write(ctx, "dirlink/sub/x", nil, time.Time{}, fill)
	ok("Write deep below a link", err)
	_, _, err = f.Write(ctx, "filelink", nil, time.Time{}, fill)
	ok("Write over a link (expect nil)", err)
	lf := hsync.LocalFile{Path: "filelink", Size: 6}
	_, _, err = f.Write(ctx, "filelink", &lf, time.Time{}, fill)
	ok("Write over a link (expect a file)", err)
	ok("Mkdir below a link", f.Mkdir("dirlink/newdir"))
	ok("Rename into a link", f.Rename("a.txt", "dirlink/a.txt"))
	ok("Rename out of a link", f.Rename("dirlink/secret.txt", "stolen.txt"))
	ok("Remove below a link", f.Remove("dirlink/secret.txt", hsync.LocalFile{Path: "dirlink/secret.txt", Size: 6}))
	if after := snapshot(t, outside); !slices.Equal(before, after) {
		t.Errorf("outside the root changed:\nbefore %q\nafter  %q", before, after)
	}
	if read(t, root, "a.txt") != "a" {
		t.Error("a.txt changed")
	}
	// Rename moves a link itself, never what it points to; refused too.
	ok("Rename a link", f.Rename("filelink", "moved"))
}

// snapshot lists every entry below dir with its content.
func snapshot(t *testing.T, dir string) []string {
	var s []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		line := p
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			line += "=" + string(b)
		}
		s = append(s, line)
		return nil
	})
	return s
}

func TestPathsThatLeaveTheRootAreRefused(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "a.txt", "a")
	ctx := context.Background()
	for _, p := range []string{"", ".", "..", "../x", "a/../../x", "/etc/passwd", "a//b", "a/", "./a.txt", "a\x00b"} {
		if _, err := f.Stat(p); err == nil || errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Stat(%q) = %v, want an invalid path", p, err)
		}
		if _, _, err := f.Hash(ctx, p); err == nil {
			t.Errorf("Hash(%q) succeeded", p)
		}
		if _, _, err := f.Write(ctx, p, nil, time.Time{}, func(io.Writer) error { return nil }); err == nil {
			t.Errorf("Write(%q) succeeded", p)
		}
		if err := f.Mkdir(p); err == nil {
			t.Errorf("Mkdir(%q) succeeded", p)
		}
		if err := f.Rename("a.txt", p); err == nil {
			t.Errorf("Rename(a.txt, %q) succeeded", p)
		}
	}
}
