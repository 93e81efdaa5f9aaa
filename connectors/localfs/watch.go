package localfs

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Watch reports changes until ctx ends, then returns nil once fn has
// returned and the watcher is closed; it fails only if the watch cannot
// start. fn is called from one goroutine, never concurrently, with the
// relative paths that may have changed (new, modified, removed, renamed
// from or to; files or folders), after Debounce of quiet or at the
// latest 5×Debounce after the first change of a burst. Events keep
// being collected while fn runs. nil means "look at everything": the
// system dropped events (queue overflow), a folder could not be watched
// (inotify's limit, for one), or the ignore rules changed.
//
// Every folder that is not ignored is watched, one watch per folder
// (fsnotify has no portable recursive watch). A folder created later is
// watched as soon as its event arrives, and listed: what was written in
// it before its watch existed (mkdir -p a/b && echo > a/b/f) is
// reported from the listing. Ignored names and holdover's temporary
// files are never reported. On macOS fsnotify's kqueue backend holds a
// descriptor per watched file as well as per folder.
func (f *Folder) Watch(ctx context.Context, fn func(paths []string)) error {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fsw.Close()
	w := &watcher{f: f, fsw: fsw, watched: map[string]bool{}, pending: map[string]bool{}}
	if err := fsw.Add(f.abs); err != nil {
		return err
	}
	w.watched[""] = true
	w.addTree(f.root, "", false)
	w.pending, w.rescan = map[string]bool{}, false // the caller scans at start anyway
	return w.run(ctx, fn)
}

// testHookAddWatch, when set, may fail adding a watch (tests cannot
// reach inotify's limit without changing the whole system's).
var testHookAddWatch func(rel string) error

type watcher struct {
	f       *Folder
	fsw     *fsnotify.Watcher
	watched map[string]bool // relative folders with a watch ("" is the root)
	pending map[string]bool // paths to report
	rescan  bool            // report nil instead
	failed  int             // folders that could not be watched
}

func (w *watcher) run(ctx context.Context, fn func([]string)) error {
	// fn runs on its own goroutine so the event queue keeps draining
	// (the kernel's overflows after 16k events) while the engine works.
	batches, idle := make(chan []string), make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for b := range batches {
			fn(b)
			idle <- struct{}{}
		}
	})
	defer wg.Wait()
	defer close(batches)

	debounce, maxDelay := w.f.debounce, 5*w.f.debounce
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	var first time.Time // of the burst being collected
	due, busy := false, false
	schedule := func() {
		now := time.Now()
		if first.IsZero() {
			first = now
		}
		timer.Reset(min(debounce, first.Add(maxDelay).Sub(now)))
	}
	deliver := func() {
		if !due || busy || !w.rescan && len(w.pending) == 0 {
			return
		}
		var batch []string
		if !w.rescan {
			batch = slices.Sorted(mapKeys(w.pending))
		}
		w.pending, w.rescan = map[string]bool{}, false
		due, busy, first = false, true, time.Time{}
		batches <- batch
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return errors.New("localfs: watcher closed")
			}
			if w.handle(ev) {
				schedule()
			}
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return errors.New("localfs: watcher closed")
			}
			w.f.log.Warn("localfs: events may have been lost; rescanning", "err", err)
			w.lost()
			schedule()
		case <-timer.C:
			due = true
			deliver()
		case <-idle:
			busy = false
			deliver()
		}
	}
}

func mapKeys(m map[string]bool) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// lost handles lost events: report everything, and watch any folder
// whose creation went unseen.
func (w *watcher) lost() {
	w.rescan = true
	w.addTree(w.f.root, "", false)
}

// handle records one event and reports whether it matters.
func (w *watcher) handle(ev fsnotify.Event) bool {
	r, err := filepath.Rel(w.f.abs, ev.Name)
	if err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return false
	}
	if r == "." { // the root itself moved or went
		w.rescan = true
		return true
	}
	rel := filepath.ToSlash(r)
	if isTemp(path.Base(rel)) {
		return false
	}
	if rel == IgnoreFile && w.f.reloadRules() {
		// Newly ignored paths stop being reported; newly included
		// ones need watches and a look from the engine.
		w.lost()
	}
	if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
		w.unwatch(rel)
	}
	var fi fs.FileInfo
	if ev.Has(fsnotify.Create) || ev.Has(fsnotify.Write) || ev.Has(fsnotify.Chmod) {
		fi, _ = w.f.root.Lstat(filepath.FromSlash(rel))
	}
	switch {
	case fi != nil && kindError(fi) != nil:
		return false
	case fi != nil && w.f.Ignored(rel, fi.IsDir()):
		return false
	case fi == nil && w.f.Ignored(rel, false) && w.f.Ignored(rel, true):
		return false // gone: ignored whichever kind it was
	}
	w.pending[rel] = true
	if fi != nil && fi.IsDir() && ev.Has(fsnotify.Create) {
		w.watchNew(rel)
	}
	return true
}

// watchNew watches a folder that appeared, and what it holds.
func (w *watcher) watchNew(rel string) {
	dir, base, release, err := w.f.parent(rel, false)
	if err != nil {
		return // gone again, or replaced by a link: nothing to watch
	}
	defer release()
	fi, err := dir.Lstat(base)
	if err != nil {
		return
	}
	sub, err := openVerified(dir, base, fi)
	if err != nil {
		return
	}
	defer sub.Close()
	if !w.add(rel) {
		return
	}
	w.addTree(sub, rel, true)
}

// add starts watching the folder rel; a failure other than the folder
// being gone means events will be missed, so the engine must scan. Only
// the first failure is a warning: past inotify's limit every folder
// fails. The watch is added by path (fsnotify has no other way), so a
// folder swapped for a link in the instant since it was listed would
// have the link's target watched: that costs spurious reports, never a
// read, since every report is checked again through the root.
func (w *watcher) add(rel string) bool {
	if w.watched[rel] {
		return true
	}
	var err error
	if testHookAddWatch != nil {
		err = testHookAddWatch(rel)
	}
	if err == nil {
		err = w.fsw.Add(filepath.Join(w.f.abs, filepath.FromSlash(rel)))
	}
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			w.failed++
			level := slog.LevelDebug
			if w.failed == 1 {
				level = slog.LevelWarn
			}
			w.f.log.Log(context.Background(), level, "localfs: cannot watch a folder; its changes will be found by rescans only",
				"path", rel, "err", err, "failed_so_far", w.failed)
			w.rescan = true
		}
		return false
	}
	w.watched[rel] = true
	return true
}

// addTree watches the folders below dir (relative path rel, watched
// already), and with report marks everything found as changed. A folder
// is watched before it is listed, so an entry created meanwhile is seen
// by one or the other.
func (w *watcher) addTree(dir *os.Root, rel string, report bool) {
	entries, err := w.f.readDir(dir, rel)
	if err != nil {
		return
	}
	rules := w.f.rules.Load()
	for _, e := range entries {
		name := e.Name()
		child := join(rel, name)
		fi, err := e.Info()
		if isTemp(name) || err != nil || kindError(fi) != nil || ignoredEntry(rules, child, name, fi.IsDir()) {
			continue
		}
		if report {
			w.pending[child] = true
		}
		if !fi.IsDir() || !w.add(child) {
			continue
		}
		if sub, err := openVerified(dir, name, fi); err == nil {
			w.addTree(sub, child, report)
			sub.Close()
		}
	}
}

// unwatch drops the watches of rel and of every folder below it: after
// a folder moves, the kernel still watches it and would name its events
// with the old path. Its new place, if inside the root, comes as a
// Create and is watched again.
func (w *watcher) unwatch(rel string) {
	for d := range w.watched {
		if d != "" && (d == rel || strings.HasPrefix(d, rel+"/")) {
			w.fsw.Remove(filepath.Join(w.f.abs, filepath.FromSlash(d)))
			delete(w.watched, d)
		}
	}
}
