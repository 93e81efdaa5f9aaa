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
	"testing"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

func content(s string) func(io.Writer) error {
	return func(w io.Writer) error { _, err := io.WriteString(w, s); return err }
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func TestWriteCreatesTheFileAndItsParents(t *testing.T) {
	f, root := newFolder(t, Options{})
	mtime := time.Date(2023, 5, 6, 7, 8, 9, 987654321, time.UTC)
	lf, h, err := f.Write(context.Background(), "a/b/c.txt", nil, mtime, content("hello"))
	if err != nil {
		t.Fatal(err)
	}
	st, _ := f.Stat("a/b/c.txt")
	if read(t, root, "a/b/c.txt") != "hello" || h != sha("hello") || !lf.Same(st) || !lf.ModTime.Equal(mtime) || lf.Path != "a/b/c.txt" {
		t.Errorf("Write = %+v, %s; on disk %+v", lf, h, st)
	}
	if tmp := tempFiles(t, root); len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}
	// Modes are what the user's umask makes of 0o666 and 0o777, like
	// any file they create.
	ref := filepath.Join(t.TempDir(), "ref")
	os.WriteFile(ref, nil, 0o666)
	os.Mkdir(ref+"d", 0o777)
	want, _ := os.Stat(ref)
	wantDir, _ := os.Stat(ref + "d")
	got, _ := os.Stat(filepath.Join(root, "a/b/c.txt"))
	gotDir, _ := os.Stat(filepath.Join(root, "a/b"))
	if got.Mode() != want.Mode() || gotDir.Mode() != wantDir.Mode() {
		t.Errorf("modes %v and %v, want %v and %v", got.Mode(), gotDir.Mode(), want.Mode(), wantDir.Mode())
	}
}

func TestWriteWithoutModTimeKeepsTheTimeOfWriting(t *testing.T) {
	f, _ := newFolder(t, Options{})
	start := time.Now().Add(-time.Second)
	lf, _, err := f.Write(context.Background(), "f", nil, time.Time{}, content("x"))
	if err != nil || lf.ModTime.Before(start) {
		t.Errorf("Write = %+v, %v", lf, err)
	}
}

func TestWriteReplacesAFileThatStillIsTheExpectedVersion(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "f.txt", "old")
	expect, _ := f.Stat("f.txt")
	lf, h, err := f.Write(context.Background(), "f.txt", &expect, time.Time{}, content("new content"))
	if err != nil || read(t, root, "f.txt") != "new content" || h != sha("new content") || lf.Size != 11 {
		t.Errorf("Write = %+v, %s, %v", lf, h, err)
	}
}

func TestWriteRefusesWhenThePathIsNotTheExpectedVersion(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	tests := []struct {
		name   string
		setup  func(t *testing.T, root string) // the disk as it is now
		expect *hsync.LocalFile                // what the engine believes
	}{
		{"the file was modified", func(t *testing.T, root string) { write(t, root, "f.txt", "user's edit") },
			&hsync.LocalFile{Path: "f.txt", Size: 3, ModTime: old}},
		{"a file was created where none was expected", func(t *testing.T, root string) { write(t, root, "f.txt", "user's file") },
			nil},
		{"a folder was created where none was expected", func(t *testing.T, root string) { os.Mkdir(filepath.Join(root, "f.txt"), 0o755) },
			nil},
		{"the expected file was removed", func(t *testing.T, root string) {},
			&hsync.LocalFile{Path: "f.txt", Size: 3, ModTime: old}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, root := newFolder(t, Options{})
			tt.setup(t, root)
			before := snapshot(t, root)
			_, _, err := f.Write(context.Background(), "f.txt", tt.expect, time.Time{}, content("remote version"))
			if !errors.Is(err, hsync.ErrLocalChanged) {
				t.Errorf("Write = %v, want ErrLocalChanged", err)
			}
			if after := snapshot(t, root); !slices.Equal(after, before) {
				t.Errorf("the folder changed:\nbefore %q\nafter  %q", before, after)
			}
		})
	}
}

func TestWriteLeavesNoTemporaryFileWhenItFails(t *testing.T) {
	boom := errors.New("connection reset")
	ctx, cancel := context.WithCancel(context.Background())
	tests := []struct {
		name string
		ctx  context.Context
		fill func(io.Writer) error
		want error
	}{
		{"fill fails midway", context.Background(), func(w io.Writer) error {
			io.WriteString(w, "half of it")
			return boom
		}, boom},
		{"the context ends during fill", ctx, func(w io.Writer) error {
			io.WriteString(w, "part")
			cancel()
			_, err := io.WriteString(w, "rest")
			return err
		}, context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, root := newFolder(t, Options{})
			write(t, root, "d/f.txt", "old")
			expect, _ := f.Stat("d/f.txt")
			_, _, err := f.Write(tt.ctx, "d/f.txt", &expect, time.Time{}, tt.fill)
			if !errors.Is(err, tt.want) {
				t.Errorf("Write = %v, want %v", err, tt.want)
			}
			if read(t, root, "d/f.txt") != "old" {
				t.Error("the target changed")
			}
			if tmp := tempFiles(t, root); len(tmp) != 0 {
				t.Errorf("temporary files left: %q", tmp)
			}
		})
	}
}

func TestWriteNeverShowsAPartialFileUnderTheFinalName(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "f.txt", "old")
	expect, _ := f.Stat("f.txt")
	_, _, err := f.Write(context.Background(), "f.txt", &expect, time.Time{}, func(w io.Writer) error {
		io.WriteString(w, "new, first half; ")
		if got := read(t, root, "f.txt"); got != "old" {
			t.Errorf("during the write the file reads %q", got)
		}
		if n := len(scan(t, f)); n != 1 {
			t.Errorf("during the write Scan reports %d entries, want 1", n)
		}
		_, err := io.WriteString(w, "second half")
		return err
	})
	if err != nil || read(t, root, "f.txt") != "new, first half; second half" {
		t.Errorf("Write: %v", err)
	}
}

func TestWriteRemovesStaleTemporaryFilesOfItsFolder(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "d/.holdover-tmp-crashed", "leftover")
	old := time.Now().Add(-2 * staleAfter)
	os.Chtimes(filepath.Join(root, "d/.holdover-tmp-crashed"), old, old)
	if _, _, err := f.Write(context.Background(), "d/f", nil, time.Time{}, content("x")); err != nil {
		t.Fatal(err)
	}
	if tmp := tempFiles(t, root); len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}
}

func TestWriteBelowAFileFails(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "a.txt", "a")
	if _, _, err := f.Write(context.Background(), "a.txt/b", nil, time.Time{}, content("x")); err == nil {
		t.Error("Write below a file succeeded")
	}
	if read(t, root, "a.txt") != "a" {
		t.Error("a.txt changed")
	}
}

func TestRename(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "a.txt", "a")
	write(t, root, "dir/x.txt", "x")
	if err := f.Rename("a.txt", "new/parent/b.txt"); err != nil {
		t.Fatal(err)
	}
	if read(t, root, "new/parent/b.txt") != "a" {
		t.Error("the file did not move")
	}
	if err := f.Rename("dir", "new/dir"); err != nil || read(t, root, "new/dir/x.txt") != "x" {
		t.Errorf("moving a folder: %v", err)
	}
	if err := f.Rename("new", "new/dir/inside"); err == nil {
		t.Error("a folder moved into itself")
	}
	if _, err := f.Stat("new/dir/inside"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a refused rename left %v", err)
	}
	if err := f.Rename("missing", "elsewhere"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Rename of a missing entry = %v, want fs.ErrNotExist", err)
	}
}

func TestRenameRefusesAnExistingDestination(t *testing.T) {
	for _, dest := range []string{"file", "emptydir"} {
		t.Run(dest, func(t *testing.T) {
			f, root := newFolder(t, Options{})
			write(t, root, "a.txt", "a")
			write(t, root, "file", "the user's")
			os.Mkdir(filepath.Join(root, "emptydir"), 0o755)
			err := f.Rename("a.txt", dest)
			if !errors.Is(err, fs.ErrExist) || !errors.Is(err, hsync.ErrLocalChanged) {
				t.Errorf("Rename = %v, want fs.ErrExist and ErrLocalChanged", err)
			}
			if read(t, root, "a.txt") != "a" || read(t, root, "file") != "the user's" {
				t.Error("something moved")
			}
		})
	}
}

func TestThePortableRenameRefusesAnExistingDestinationToo(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "a.txt", "a")
	write(t, root, "d/b.txt", "b")
	dir, base, release, err := f.parent("d/b.txt", false)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if err := f.renameChecked("a.txt", "d/b.txt", dir, base); !errors.Is(err, fs.ErrExist) {
		t.Errorf("renameChecked = %v, want fs.ErrExist", err)
	}
	if err := f.renameChecked("a.txt", "d/c.txt", dir, "c.txt"); err != nil || read(t, root, "d/c.txt") != "a" {
		t.Errorf("renameChecked to a free name: %v", err)
	}
}

func TestRemove(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "f.txt", "f")
	write(t, root, "full/x", "x")
	os.Mkdir(filepath.Join(root, "empty"), 0o755)
	st, _ := f.Stat("f.txt")

	stale := st
	stale.Size++
	if err := f.Remove("f.txt", stale); !errors.Is(err, hsync.ErrLocalChanged) {
		t.Errorf("Remove of a changed file = %v, want ErrLocalChanged", err)
	}
	if err := f.Remove("f.txt", hsync.LocalFile{Path: "f.txt", Dir: true}); !errors.Is(err, hsync.ErrLocalChanged) {
		t.Errorf("Remove of a file expected to be a folder = %v, want ErrLocalChanged", err)
	}
	if read(t, root, "f.txt") != "f" {
		t.Fatal("a changed file was removed")
	}
	if err := f.Remove("f.txt", st); err != nil {
		t.Errorf("Remove of an unchanged file: %v", err)
	}
	if err := f.Remove("full", hsync.LocalFile{Path: "full", Dir: true}); !errors.Is(err, hsync.ErrLocalChanged) {
		t.Errorf("Remove of a folder with content = %v, want ErrLocalChanged", err)
	}
	if read(t, root, "full/x") != "x" {
		t.Error("content of a folder was removed")
	}
	if err := f.Remove("empty", hsync.LocalFile{Path: "empty", Dir: true}); err != nil {
		t.Errorf("Remove of an empty folder: %v", err)
	}
	if err := f.Remove("missing", st); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Remove of a missing file = %v, want fs.ErrNotExist", err)
	}
	if got := scan(t, f); len(got) != 2 || got[0] != "full/" {
		t.Errorf("left: %q", got)
	}
}

func TestMkdir(t *testing.T) {
	f, root := newFolder(t, Options{})
	if err := f.Mkdir("a/b/c"); err != nil {
		t.Fatal(err)
	}
	if err := f.Mkdir("a/b/c"); err != nil {
		t.Errorf("Mkdir of an existing folder: %v", err)
	}
	if lf, err := f.Stat("a/b/c"); err != nil || !lf.Dir {
		t.Errorf("Stat = %+v, %v", lf, err)
	}
	write(t, root, "file", "x")
	if err := f.Mkdir("file"); err == nil {
		t.Error("Mkdir over a file succeeded")
	}
	os.Symlink("a", filepath.Join(root, "link"))
	if err := f.Mkdir("link"); !errors.Is(err, ErrSymlink) {
		t.Errorf("Mkdir over a link = %v, want ErrSymlink", err)
	}
}
