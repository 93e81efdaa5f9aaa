package config

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a [Watcher] waits after the last change
// before it reports: editors, package managers and configuration tools
// touch files several times in a row.
const DefaultDebounce = 500 * time.Millisecond

// Watcher reports changes to the files a configuration is made of. It
// watches directories, not files, so that it sees the rename-on-save of
// editors, atomic replaces, drop-ins added later and files or
// directories that do not exist yet: for those it watches the nearest
// existing parent. It never parses anything; the owner reloads.
type Watcher struct {
	fsw      *fsnotify.Watcher
	sources  Sources
	files    []string
	debounce time.Duration
	onChange func()
	watched  map[string]*interest // real directory path -> what matters in it
}

// interest is what matters in one watched directory.
type interest struct {
	names   map[string]bool // entries that matter
	dropins bool            // any *.yaml or *.yml that is not hidden (conf.d)
}

// Watch runs a [Watcher] for c until ctx is done: see [NewWatcher] and
// [Watcher.Run].
func Watch(ctx context.Context, c *Config, debounce time.Duration, onChange func()) error {
	w, err := NewWatcher(c, debounce, onChange)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// NewWatcher watches the directories of the files c was loaded from: the
// user file's directory, the system directory and its conf.d (see
// [Config.Sources]), plus the directories of the targets of symbolic
// links among them. Once it returns, every later change is reported. A
// debounce of 0 means [DefaultDebounce]. onChange is called from Run,
// never concurrently, after a burst of changes has been quiet for the
// debounce period; it should reload the configuration and keep the old
// one if the new one is invalid. Call Run exactly once.
func NewWatcher(c *Config, debounce time.Duration, onChange func()) (*Watcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	w := &Watcher{fsw: fsw, sources: c.info.sources, files: c.info.files, debounce: debounce, onChange: onChange, watched: map[string]*interest{}}
	if err := w.update(); err != nil {
		fsw.Close()
		return nil, err
	}
	return w, nil
}

// Run reports changes until ctx is done, then stops watching and returns
// nil. It returns an error only if the watch itself fails for good.
func (w *Watcher) Run(ctx context.Context) error {
	defer w.fsw.Close()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return errors.New("config: file watcher closed")
			}
			if w.relevant(ev) {
				timer.Reset(w.debounce)
			}
		case _, ok := <-w.fsw.Errors:
			if !ok {
				return errors.New("config: file watcher closed")
			}
			// An overflowed queue or a lost watch: changes may have gone
			// unseen, so report one.
			timer.Reset(w.debounce)
		case <-timer.C:
			// Directories may have appeared or gone: watch them first, so
			// that nothing changed during onChange goes unseen.
			_ = w.update()
			w.onChange()
		}
	}
}

// relevant reports whether an event concerns a configuration file, a
// directory on the way to one, or a watched directory itself.
func (w *Watcher) relevant(ev fsnotify.Event) bool {
	if _, ok := w.watched[ev.Name]; ok {
		return true
	}
	in := w.watched[filepath.Dir(ev.Name)]
	if in == nil {
		return false
	}
	name := filepath.Base(ev.Name)
	return in.names[name] || in.dropins && isDropIn(name)
}

func isDropIn(name string) bool {
	return !strings.HasPrefix(name, ".") && (strings.HasSuffix(name, ".yaml") || strings.HasSuffix(name, ".yml"))
}

// update works out what to watch now and adjusts the watches. It returns
// the first error other than a directory vanishing meanwhile.
func (w *Watcher) update() error {
	want := w.plan()
	var first error
	for dir := range w.watched {
		if want[dir] == nil {
			_ = w.fsw.Remove(dir)
		}
	}
	for dir := range want {
		if w.watched[dir] != nil {
			continue
		}
		if err := w.fsw.Add(dir); err != nil {
			if !errors.Is(err, fs.ErrNotExist) && first == nil {
				first = err
			}
			delete(want, dir)
		}
	}
	w.watched = want
	return first
}

// plan returns the directories to watch: those of the user file, the
// system file and the drop-ins, the nearest existing parent of any of
// them that does not exist, and the directories of symbolic link
// targets. Directories are keyed by their real path, since adding one
// directory under two names would confuse the events' names.
func (w *Watcher) plan() watchPlan {
	p := watchPlan{}
	var files []string
	if u := w.sources.User; u != "" {
		files = append(files, u)
	}
	if sys := w.sources.SystemDir; sys != "" {
		files = append(files, filepath.Join(sys, "config.yaml"), filepath.Join(sys, "conf.d"))
		confd := filepath.Join(sys, "conf.d")
		if real, err := filepath.EvalSymlinks(confd); err == nil && isDir(real) {
			in := p.dir(real)
			in.dropins = true
			entries, _ := os.ReadDir(real)
			for _, e := range entries {
				if isDropIn(e.Name()) {
					files = append(files, filepath.Join(confd, e.Name()))
				}
			}
		}
	}
	files = append(files, w.files...)
	for _, f := range files {
		p.add(f)
		if fi, err := os.Lstat(f); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if target, err := filepath.EvalSymlinks(f); err == nil {
				p.add(target)
			}
		}
	}
	return p
}

type watchPlan map[string]*interest

func (p watchPlan) dir(real string) *interest {
	in := p[real]
	if in == nil {
		in = &interest{names: map[string]bool{}}
		p[real] = in
	}
	return in
}

// add watches the directory of path for it, or if that directory does
// not exist, its nearest existing parent for the first missing one.
func (p watchPlan) add(path string) {
	path, err := filepath.Abs(path)
	if err != nil {
		return
	}
	dir, name := filepath.Dir(path), filepath.Base(path)
	for {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			if isDir(real) {
				p.dir(real).names[name] = true
			}
			return
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return
		}
		dir, name = parent, filepath.Base(dir)
	}
}

func isDir(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.IsDir()
}
