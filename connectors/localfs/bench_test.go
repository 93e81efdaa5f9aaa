package localfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	hsync "github.com/holdover/holdover/sync"
)

// BenchmarkScan walks 5,000 files in 250 folders (10 top folders of 24
// subfolders, 20 files each), warm.
func BenchmarkScan(b *testing.B) {
	f, root := newFolder(b, Options{})
	write(b, root, IgnoreFile, "*.log\nbuild/\n")
	f.reloadRules()
	files := 0
	for i := range 10 {
		for j := range 25 {
			dir := filepath.Join(root, fmt.Sprintf("top%02d", i))
			if j > 0 {
				dir = filepath.Join(dir, fmt.Sprintf("sub%02d", j))
			}
			os.MkdirAll(dir, 0o755)
			for k := range 20 {
				os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%02d.txt", k)), []byte("x"), 0o644)
				files++
			}
		}
	}
	var n int
	count := func(hsync.LocalFile, error) error { n++; return nil }
	b.ResetTimer()
	for b.Loop() {
		n = 0
		if err := f.Scan(context.Background(), count); err != nil {
			b.Fatal(err)
		}
	}
	if n != files+250+1 {
		b.Fatalf("scanned %d entries, want %d", n, files+251)
	}
}
