package localfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestBuiltinIgnores(t *testing.T) {
	f, _ := newFolder(t, Options{})
	ignored := []string{
		".holdover-tmp-0123", "~$report.docx", "~WRL0001.tmp", ".~lock.notes.odt#", ".#notes.org",
		"#notes.org#", "notes.txt~", ".notes.txt.swp", ".notes.txt.swo", "x.swx", "a.kate-swp",
		".DS_Store", "._photo.jpg", "Icon\r", "Thumbs.db", "thumbs.db", "Desktop.ini", ".directory",
		"$RECYCLE.BIN", "System Volume Information", ".Trash-1000", ".fuse_hidden0000001",
		".nfs000000000189806400000001", "film.mkv.part", "setup.exe.crdownload", "a.zip.download",
		"b.partial", "c.filepart", "sub/dir/Thumbs.db", "$RECYCLE.BIN/S-1-5/file.txt",
	}
	kept := []string{
		"report.docx", "notes.tmp", "backup.bak", ".git", ".holdoverignore", "a~b", "swp", "part",
		"archive.part1.rar", "report.conflict-host-20250101-120000.docx", ".nfsrc", "~notes.txt",
		"Icon", "sub/notes.txt", ".config",
	}
	for _, p := range ignored {
		if !f.Ignored(p, false) {
			t.Errorf("%q is synced, want ignored", p)
		}
	}
	for _, p := range kept {
		if f.Ignored(p, false) {
			t.Errorf("%q is ignored, want synced", p)
		}
	}
}

func TestIgnoreFileFollowsGitignoreRules(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, IgnoreFile, "# comment\n"+
		"*.log\n"+
		"!keep.log\n"+
		"build/\n"+
		"/top.txt\n"+
		"docs/draft\n"+
		"cache/**/tmp\n"+
		"?.bak\n"+
		"a+b.txt\n"+
		"file[!0-9].dat\n"+
		"\\#literal\n"+
		"   \r\n")
	f.reloadRules()
	tests := []struct {
		path string
		dir  bool
		want bool
	}{
		{"x.log", false, true},
		{"deep/er/x.log", false, true},
		{"keep.log", false, false},
		{"build", true, true},
		{"build", false, false}, // "build/" matches folders only
		{"src/build", true, true},
		{"build/out.o", false, true},
		{"top.txt", false, true},
		{"sub/top.txt", false, false}, // anchored by the leading slash
		{"docs/draft", false, true},
		{"x/docs/draft", false, false}, // a middle slash anchors too
		{"cache/tmp", true, true},
		{"cache/a/b/tmp", true, true},
		{"1.bak", false, true},
		{"12.bak", false, false},
		{"a+b.txt", false, true},
		{"aab.txt", false, false}, // "+" is a plain character
		{"filex.dat", false, true},
		{"file1.dat", false, false},
		{"#literal", false, true},
		{"readme.md", false, false},
	}
	for _, tt := range tests {
		if got := f.Ignored(tt.path, tt.dir); got != tt.want {
			t.Errorf("Ignored(%q, dir=%v) = %v, want %v", tt.path, tt.dir, got, tt.want)
		}
	}
}

func TestScanRereadsTheIgnoreFileWhenItChanges(t *testing.T) {
	f, root := newFolder(t, Options{})
	write(t, root, "a.txt", "a")
	write(t, root, "b.txt", "b")
	if got := scan(t, f); !slices.Equal(got, []string{"a.txt", "b.txt"}) {
		t.Fatalf("before: %q", got)
	}
	write(t, root, IgnoreFile, "a.txt\n")
	if got := scan(t, f); !slices.Equal(got, []string{IgnoreFile, "b.txt"}) {
		t.Fatalf("after adding the rule: %q", got)
	}
	write(t, root, IgnoreFile, "b.txt\n") // same size: the mtime tells
	future := time.Now().Add(time.Minute)
	os.Chtimes(filepath.Join(root, IgnoreFile), future, future)
	if got := scan(t, f); !slices.Equal(got, []string{IgnoreFile, "a.txt"}) {
		t.Fatalf("after changing the rule: %q", got)
	}
	os.Remove(filepath.Join(root, IgnoreFile))
	if got := scan(t, f); !slices.Equal(got, []string{"a.txt", "b.txt"}) {
		t.Fatalf("after removing the file: %q", got)
	}
}

func TestAnIgnoreFileThatIsALinkIsNotFollowed(t *testing.T) {
	f, root := newFolder(t, Options{})
	outside := filepath.Join(t.TempDir(), "rules")
	os.WriteFile(outside, []byte("*.txt\n"), 0o644)
	os.Symlink(outside, filepath.Join(root, IgnoreFile))
	write(t, root, "a.txt", "a")
	if got := scan(t, f); !slices.Equal(got, []string{"a.txt"}) {
		t.Fatalf("scan: %q", got)
	}
}
