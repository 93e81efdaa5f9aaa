package localfs

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// newFolder opens a Folder on a fresh directory and returns it with the
// directory's path.
func newFolder(t testing.TB, opts Options) (*Folder, string) {
	t.Helper()
	dir := t.TempDir()
	f, err := Open(dir, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, f.Root()
}

// write creates root/rel (and its parents) with content.
func write(t testing.TB, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, root, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(rel)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scanned is one Scan result, "name/" for a folder, "name!" for an error.
func scan(t testing.TB, f *Folder) []string {
	t.Helper()
	var got []string
	err := f.Scan(context.Background(), func(lf hsync.LocalFile, err error) error {
		s := lf.Path
		if lf.Dir {
			s += "/"
		}
		if err != nil {
			s += "!"
		}
		got = append(got, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// tempFiles lists holdover's temporary files anywhere below root.
func tempFiles(t testing.TB, root string) []string {
	t.Helper()
	var found []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), tempPrefix) {
			found = append(found, p)
		}
		return nil
	})
	return found
}

// waitFor polls cond for up to 5 s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
