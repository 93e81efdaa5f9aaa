package localfs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// recorder keeps what Watch reported.
type recorder struct {
	mu    sync.Mutex
	calls [][]string // nil entries are rescans
	times []time.Time
}

func (r *recorder) fn(paths []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, paths)
	r.times = append(r.times, time.Now())
}

// seen reports whether p was reported in any call.
func (r *recorder) seen(p string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.calls {
		if slices.Contains(c, p) {
			return true
		}
	}
	return false
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var all []string
	for _, c := range r.calls {
		all = append(all, c...)
	}
	return all
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls, r.times = nil, nil
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.calls)
}

// watch runs f.Watch until the test ends, and returns once it reports
// changes (a sentinel file is written until it is seen).
func watch(t *testing.T, f *Folder) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	rec := &recorder{}
	done := make(chan error, 1)
	go func() { done <- f.Watch(ctx, rec.fn) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Watch did not return after its context ended")
		}
	})
	root := f.Root()
	for i := 0; ; i++ {
		name := fmt.Sprintf("sentinel-%d", i)
		write(t, root, name, "")
		deadline := time.Now().Add(3*f.debounce + 100*time.Millisecond)
		for !rec.seen(name) && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		os.Remove(filepath.Join(root, name))
		if rec.seen(name) {
			break
		}
		if i == 50 {
			t.Fatal("Watch never reported the sentinel")
		}
	}
	time.Sleep(3 * f.debounce) // the sentinel's removal
	rec.reset()
	return rec
}

func TestWatchReportsNewEditedRemovedAndRenamedFiles(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 30 * time.Millisecond})
	write(t, root, "d/existing.txt", "x")
	rec := watch(t, f)
	steps := []struct {
		name   string
		change func()
		want   []string
	}{
		{"a new file", func() { write(t, root, "new.txt", "1") }, []string{"new.txt"}},
		{"a new file in an existing folder", func() { write(t, root, "d/n.txt", "1") }, []string{"d/n.txt"}},
		{"an edit", func() {
			fh, _ := os.OpenFile(filepath.Join(root, "d/existing.txt"), os.O_WRONLY|os.O_APPEND, 0)
			fh.WriteString("more")
			fh.Close()
		}, []string{"d/existing.txt"}},
		{"a touch", func() {
			later := time.Now().Add(time.Hour)
			os.Chtimes(filepath.Join(root, "new.txt"), later, later)
		}, []string{"new.txt"}},
		{"a rename", func() { os.Rename(filepath.Join(root, "new.txt"), filepath.Join(root, "d/moved.txt")) }, []string{"new.txt", "d/moved.txt"}},
		{"a removal", func() { os.Remove(filepath.Join(root, "d/moved.txt")) }, []string{"d/moved.txt"}},
		{"a new empty folder", func() { os.Mkdir(filepath.Join(root, "e"), 0o755) }, []string{"e"}},
		{"a removed folder", func() { os.RemoveAll(filepath.Join(root, "e")) }, []string{"e"}},
	}
	for _, s := range steps {
		rec.reset()
		s.change()
		for _, p := range s.want {
			waitFor(t, s.name+": "+p, func() bool { return rec.seen(p) })
		}
	}
}

func TestWatchReportsFilesWrittenInANewlyCreatedFolder(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 30 * time.Millisecond})
	rec := watch(t, f)
	// Written right after mkdir -p, usually before the watcher has seen
	// the folder at all: the listing must find them.
	for i := range 20 {
		dir := filepath.Join(root, fmt.Sprintf("n%d/a/b", i))
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644)
		os.WriteFile(filepath.Join(root, fmt.Sprintf("n%d/a/g", i)), []byte("x"), 0o644)
	}
	for i := range 20 {
		for _, p := range []string{"n%d/a/b/f", "n%d/a/g", "n%d/a/b"} {
			p := fmt.Sprintf(p, i)
			waitFor(t, p, func() bool { return rec.seen(p) })
		}
	}
	// And the new folders are watched from then on.
	rec.reset()
	write(t, root, "n7/a/b/later.txt", "x")
	waitFor(t, "a later file in a new folder", func() bool { return rec.seen("n7/a/b/later.txt") })
}

func TestWatchFollowsARenamedFolder(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 30 * time.Millisecond})
	write(t, root, "old/sub/f.txt", "x")
	rec := watch(t, f)
	os.Rename(filepath.Join(root, "old"), filepath.Join(root, "new"))
	waitFor(t, "both names of the folder", func() bool { return rec.seen("old") && rec.seen("new") })
	rec.reset()
	write(t, root, "new/sub/g.txt", "x")
	waitFor(t, "a file in the renamed folder, under its new name", func() bool { return rec.seen("new/sub/g.txt") })
	for _, p := range rec.all() {
		if strings.HasPrefix(p, "old/") {
			t.Errorf("reported under the folder's old name: %q", p)
		}
	}
}

func TestWatchDebouncesABurst(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 100 * time.Millisecond})
	rec := watch(t, f)
	for i := range 100 {
		write(t, root, fmt.Sprintf("burst/%03d.txt", i%50), fmt.Sprint(i))
	}
	waitFor(t, "the burst", func() bool { return rec.seen("burst/049.txt") && rec.seen("burst/000.txt") })
	time.Sleep(300 * time.Millisecond)
	if n := rec.count(); n > 3 {
		t.Errorf("100 writes gave %d calls, want at most 3", n)
	}
	for i := range 50 {
		if p := fmt.Sprintf("burst/%03d.txt", i); !rec.seen(p) {
			t.Errorf("%s was not reported", p)
		}
	}
}

func TestWatchReportsDuringAContinuousBurst(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 60 * time.Millisecond}) // at the latest every 300 ms
	rec := watch(t, f)
	start := time.Now()
	for time.Since(start) < 1200*time.Millisecond {
		write(t, root, "busy.log", time.Now().String())
		time.Sleep(10 * time.Millisecond)
	}
	rec.mu.Lock()
	times := slices.Clone(rec.times)
	rec.mu.Unlock()
	if len(times) < 3 {
		t.Fatalf("%d calls during 1.2 s of continuous writes, want one at least every 300 ms", len(times))
	}
	if first := times[0].Sub(start); first > 500*time.Millisecond {
		t.Errorf("first call %v after the burst began, want about 300 ms", first)
	}
}

func TestWatchDoesNotReportIgnoredOrTemporaryFiles(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 30 * time.Millisecond})
	write(t, root, IgnoreFile, "build/\n*.log\n")
	os.Mkdir(filepath.Join(root, "build"), 0o755)
	f.reloadRules()
	rec := watch(t, f)
	for _, p := range []string{"x.swp", ".holdover-tmp-123", "build/out.o", "a.log", "sub/~$doc.docx", "new-build/out.log"} {
		write(t, root, p, "x")
	}
	os.Mkdir(filepath.Join(root, "sub/build"), 0o755)
	write(t, root, "sub/build/x.o", "x")
	write(t, root, "done.txt", "x")
	waitFor(t, "done.txt", func() bool { return rec.seen("done.txt") })
	time.Sleep(100 * time.Millisecond)
	got := rec.all()
	slices.Sort(got)
	got = slices.Compact(got)
	if want := []string{"done.txt", "new-build", "sub"}; !slices.Equal(got, want) {
		t.Errorf("reported %q, want %q", got, want)
	}
	if _, _, err := f.Write(context.Background(), "written-by-holdover.txt", nil, time.Time{}, content("x")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "holdover's own write", func() bool { return rec.seen("written-by-holdover.txt") })
	for _, p := range rec.all() {
		if isTemp(filepath.Base(p)) {
			t.Errorf("a temporary file was reported: %q", p)
		}
	}
}

func TestWatchAsksForARescanWhenTheIgnoreRulesChange(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 30 * time.Millisecond})
	write(t, root, IgnoreFile, "secret/\n")
	write(t, root, "secret/a.txt", "x")
	f.reloadRules()
	rec := watch(t, f)
	write(t, root, IgnoreFile, "# nothing\n")
	waitFor(t, "a rescan", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.ContainsFunc(rec.calls, func(c []string) bool { return c == nil })
	})
	// The folder that was ignored is watched now.
	rec.reset()
	write(t, root, "secret/b.txt", "x")
	waitFor(t, "a change in the folder no longer ignored", func() bool { return rec.seen("secret/b.txt") })
}

func TestWatchAsksForARescanWhenAFolderCannotBeWatched(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 30 * time.Millisecond})
	testHookAddWatch = func(rel string) error {
		if strings.HasPrefix(rel, "unwatchable") {
			return syscall.ENOSPC // what inotify says past max_user_watches
		}
		return nil
	}
	defer func() { testHookAddWatch = nil }()
	rec := watch(t, f)
	os.Mkdir(filepath.Join(root, "unwatchable"), 0o755)
	waitFor(t, "a rescan", func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return slices.ContainsFunc(rec.calls, func(c []string) bool { return c == nil })
	})
}

func TestWatchKeepsCollectingWhileFnRuns(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	var got []string
	release := make(chan struct{})
	first := true
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.Watch(ctx, func(paths []string) {
			mu.Lock()
			got = append(got, paths...)
			wasFirst := first
			first = false
			mu.Unlock()
			if wasFirst {
				<-release // the engine is busy
			}
		})
	}()
	time.Sleep(200 * time.Millisecond) // watches in place
	write(t, root, "one.txt", "1")
	waitFor(t, "the first call", func() bool { mu.Lock(); defer mu.Unlock(); return !first })
	write(t, root, "two.txt", "2")
	time.Sleep(100 * time.Millisecond)
	close(release)
	waitFor(t, "what changed during the first call", func() bool { mu.Lock(); defer mu.Unlock(); return slices.Contains(got, "two.txt") })
	cancel()
	<-done
}

func TestWatchReleasesItsGoroutines(t *testing.T) {
	f, root := newFolder(t, Options{Debounce: 20 * time.Millisecond})
	write(t, root, "a/b/c.txt", "x")
	before := runtime.NumGoroutine()
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- f.Watch(ctx, func([]string) { time.Sleep(50 * time.Millisecond) }) }()
		time.Sleep(50 * time.Millisecond)
		write(t, root, "a/b/d.txt", "x")
		time.Sleep(40 * time.Millisecond) // ends while fn may be running
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

func TestWatchLatency(t *testing.T) {
	f, root := newFolder(t, Options{}) // the default debounce
	rec := watch(t, f)
	var worst time.Duration
	for i := range 5 {
		rec.reset()
		start := time.Now()
		write(t, root, fmt.Sprintf("f%d", i), "x")
		waitFor(t, "the change", func() bool { return rec.count() > 0 })
		worst = max(worst, time.Since(start))
	}
	t.Logf("worst latency from write to report: %v (debounce %v)", worst, DefaultDebounce)
	if worst > DefaultDebounce+300*time.Millisecond {
		t.Errorf("latency %v", worst)
	}
}
