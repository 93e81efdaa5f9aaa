package localfs

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// crashChild names the folder in which the child process of
// TestAWriteKilledMidwayLeavesTheOldFile writes until it is killed.
const crashChild = "HOLDOVER_LOCALFS_CRASH_CHILD"

func TestAWriteKilledMidwayLeavesTheOldFile(t *testing.T) {
	if root := os.Getenv(crashChild); root != "" {
		writeUntilKilled(root)
		return
	}
	root := t.TempDir()
	write(t, root, "d/doc.txt", "the old version")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAWriteKilledMidwayLeavesTheOldFile$")
	cmd.Env = append(os.Environ(), crashChild+"="+root)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the child to be midway", func() bool {
		_, err := os.Stat(filepath.Join(root, "midway"))
		return err == nil
	})
	cmd.Process.Kill()
	cmd.Wait()
	os.Remove(filepath.Join(root, "midway"))

	if got := read(t, root, "d/doc.txt"); got != "the old version" {
		t.Errorf("after the kill the file reads %q", got)
	}
	tmp := tempFiles(t, root)
	if len(tmp) != 1 {
		t.Fatalf("temporary files after the kill: %q, want the one being written", tmp)
	}
	f, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := scan(t, f); !slices.Equal(got, []string{"d/", "d/doc.txt"}) {
		t.Errorf("scan after the kill: %q", got)
	}
	if len(tempFiles(t, root)) != 1 {
		t.Error("a recent temporary file was removed: it may be another process's write")
	}
	old := time.Now().Add(-2 * staleAfter)
	os.Chtimes(tmp[0], old, old)
	scan(t, f)
	if left := tempFiles(t, root); len(left) != 0 {
		t.Errorf("a crash's leftover was kept: %q", left)
	}
}

// writeUntilKilled replaces d/doc.txt with content that never ends,
// and says when it is midway.
func writeUntilKilled(root string) {
	f, err := Open(root, Options{})
	if err != nil {
		panic(err)
	}
	expect, err := f.Stat("d/doc.txt")
	if err != nil {
		panic(err)
	}
	f.Write(context.Background(), "d/doc.txt", &expect, time.Time{}, func(w io.Writer) error {
		io.WriteString(w, "the new version, first half")
		os.WriteFile(filepath.Join(root, "midway"), nil, 0o644)
		time.Sleep(time.Hour) // killed here
		return nil
	})
}
