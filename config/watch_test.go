package config

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// watched starts a Watcher on the layers of s (which must load) and
// returns a channel that receives one value per onChange call.
func watched(t *testing.T, s Sources, debounce time.Duration) (<-chan struct{}, *atomic.Int32) {
	t.Helper()
	c := mustLoadSources(t, s)
	calls := make(chan struct{}, 100)
	var n atomic.Int32
	w, err := NewWatcher(c, debounce, func() {
		n.Add(1)
		calls <- struct{}{}
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
	return calls, &n
}

func wantCall(t *testing.T, calls <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-calls:
	case <-time.After(2 * time.Second):
		t.Fatalf("%s: no onChange within 2s", what)
	}
}

func wantQuiet(t *testing.T, calls <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-calls:
		t.Fatalf("%s: unexpected onChange", what)
	case <-time.After(d):
	}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherSeesChanges(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml":      minimal,
		"etc/conf.d/10-a.yaml": "log: {level: info}\n",
		"home/config.yaml":     "log: {format: text}\n",
	})
	calls, _ := watched(t, s, 50*time.Millisecond)
	confd := filepath.Join(s.SystemDir, "conf.d")

	write(t, s.User, "log: {format: json}\n")
	wantCall(t, calls, "write to the user file")

	tmp := s.User + ".tmp"
	write(t, tmp, "log: {level: debug}\n")
	wantQuiet(t, calls, 300*time.Millisecond, "write to an unrelated file")
	if err := os.Rename(tmp, s.User); err != nil {
		t.Fatal(err)
	}
	wantCall(t, calls, "atomic replace of the user file")

	write(t, filepath.Join(confd, "20-new.yaml"), "log: {level: warn}\n")
	wantCall(t, calls, "new drop-in")

	write(t, filepath.Join(s.SystemDir, "config.yaml"), minimal+"\n")
	wantCall(t, calls, "write to the system file")

	if err := os.Remove(filepath.Join(confd, "10-a.yaml")); err != nil {
		t.Fatal(err)
	}
	wantCall(t, calls, "removed drop-in")

	for _, name := range []string{".20-new.yaml.swp", "20-new.yaml~", "notes.txt"} {
		write(t, filepath.Join(confd, name), "x")
	}
	write(t, filepath.Join(filepath.Dir(s.User), "other.yaml"), "x")
	wantQuiet(t, calls, 400*time.Millisecond, "editor and unrelated files")
}

func TestWatcherDebouncesBursts(t *testing.T) {
	s, _ := layered(t, map[string]string{"etc/config.yaml": minimal, "home/config.yaml": "\n"})
	calls, n := watched(t, s, 300*time.Millisecond)
	for i := range 10 {
		write(t, s.User, fmt.Sprintf("# edit %d\n", i))
		time.Sleep(20 * time.Millisecond)
	}
	wantCall(t, calls, "burst")
	wantQuiet(t, calls, 600*time.Millisecond, "after the burst")
	// One call; two would mean the machine stalled for 300ms mid-burst.
	if got := n.Load(); got < 1 || got > 2 {
		t.Errorf("10 writes in 200ms gave %d calls, want 1", got)
	}
}

func TestWatcherFollowsDirectoriesCreatedLater(t *testing.T) {
	t.Run("conf.d", func(t *testing.T) {
		s, _ := layered(t, map[string]string{"etc/config.yaml": minimal})
		calls, _ := watched(t, s, 50*time.Millisecond)
		confd := filepath.Join(s.SystemDir, "conf.d")
		if err := os.Mkdir(confd, 0o755); err != nil {
			t.Fatal(err)
		}
		wantCall(t, calls, "conf.d created")
		write(t, filepath.Join(confd, "10-a.yaml"), "log: {level: debug}\n")
		wantCall(t, calls, "drop-in in the new conf.d")
		write(t, filepath.Join(confd, "10-a.yaml"), "log: {level: warn}\n")
		wantCall(t, calls, "write to that drop-in")
	})
	t.Run("user directory", func(t *testing.T) {
		s, _ := layered(t, map[string]string{"etc/config.yaml": minimal})
		s.User = filepath.Join(filepath.Dir(s.SystemDir), "home", ".config", "holdover", "config.yaml")
		calls, _ := watched(t, s, 50*time.Millisecond)
		write(t, s.User, "log: {level: debug}\n") // creates home/.config/holdover
		wantCall(t, calls, "user file created with its directories")
		write(t, s.User, "log: {level: warn}\n")
		wantCall(t, calls, "write to the new user file")
	})
}

func TestWatcherFollowsSymlinkedFiles(t *testing.T) {
	s, dir := layered(t, map[string]string{"etc/config.yaml": minimal, "dotfiles/holdover.yaml": "\n"})
	target := filepath.Join(dir, "dotfiles", "holdover.yaml")
	os.MkdirAll(filepath.Dir(s.User), 0o755)
	if err := os.Symlink(target, s.User); err != nil {
		t.Fatal(err)
	}
	calls, _ := watched(t, s, 50*time.Millisecond)
	write(t, target, "log: {level: debug}\n")
	wantCall(t, calls, "write to the link's target")
}

func TestWatcherStopsOnCancel(t *testing.T) {
	s, _ := layered(t, map[string]string{"etc/config.yaml": minimal})
	c := mustLoadSources(t, s)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var n atomic.Int32
	go func() { done <- Watch(ctx, c, 10*time.Millisecond, func() { n.Add(1) }) }()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Watch = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Watch did not return after cancel")
	}
	write(t, filepath.Join(s.SystemDir, "config.yaml"), "\n")
	time.Sleep(100 * time.Millisecond)
	if n.Load() != 0 {
		t.Error("onChange called after cancel")
	}
	// Everything Watch started has stopped.
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := runtime.NumGoroutine(); got > before {
		t.Errorf("%d goroutines after Watch returned, %d before", got, before)
	}
}
