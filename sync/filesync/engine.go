package filesync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/holdover/holdover/internal/clock"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// Options configure an Engine.
type Options struct {
	Account string
	DB      *store.DB
	Remote  hsync.FileRemote
	Local   hsync.LocalFolder
	Log     *slog.Logger
	Clock   clock.Clock // nil: the wall clock
	// Host names this machine in conflict copies ("" for os.Hostname).
	Host string
	// MaxDelete is the mass-delete guard: a pass that would delete more
	// than this percent of the files on one side stops (0: 50). Below
	// guardFloor deletions it never trips: deleting 3 of 4 files is an
	// everyday act, not an accident.
	MaxDelete int
	// MaxDeleteCount, when > 0, stops a pass that would delete more files
	// than this on one side, whatever the percentage.
	MaxDeleteCount int
	// Parallel bounds the transfers a pass runs at once (0: 4).
	Parallel int
	// Progress, when set, is told how a pass's transfers advance.
	Progress func(Progress)
}

// guardFloor is the number of deletions the percentage guard allows in
// any tree, however small.
const guardFloor = 5

// Progress is how far a pass's downloads are.
type Progress struct {
	Files, FilesDone int
	Bytes, BytesDone int64
}

// Stats count what a pass did.
type Stats struct {
	Queued       int // local changes queued for the server
	Moves        int // of them, renames found
	Downloaded   int
	Bytes        int64 // downloaded
	Renamed      int   // files the server renamed, renamed here too (not downloaded again)
	RemovedLocal int   // local files and folders removed because the server removed them
	Problems     int   // paths reported and skipped
}

// ErrGuard is wrapped by the error of a pass stopped by the mass-delete
// guard.
var ErrGuard = errors.New("files sync stopped by the mass-delete guard")

// Engine syncs one account's folder. One goroutine runs its passes at a
// time (the Runner); the executor may run beside it.
type Engine struct {
	opts Options
	log  *slog.Logger
	clk  clock.Clock
	host string
}

// New returns an engine.
func New(opts Options) *Engine {
	e := &Engine{opts: opts, log: opts.Log, clk: opts.Clock, host: opts.Host}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	e.log = e.log.With("service", "webdav")
	if e.clk == nil {
		e.clk = clock.Real{}
	}
	if e.host == "" {
		e.host, _ = os.Hostname()
		if e.host == "" {
			e.host = "local"
		}
	}
	if e.opts.MaxDelete <= 0 {
		e.opts.MaxDelete = 50
	}
	if e.opts.Parallel <= 0 {
		e.opts.Parallel = 4
	}
	return e
}

// SyncOptions change one pass.
type SyncOptions struct {
	// Force lets a pass delete past the mass-delete guard, and releases
	// the guard.
	Force bool
}

// Sync runs a whole pass: local changes are queued, then the server's
// tree is compared with the base and its changes applied locally. A
// guard that is on stops it unless forced.
func (e *Engine) Sync(ctx context.Context, o SyncOptions) (Stats, error) {
	var st Stats
	root, err := e.opts.DB.FileRoot(ctx, e.opts.Account)
	if err != nil {
		return st, err
	}
	if root.Guard != "" && !o.Force {
		return st, fmt.Errorf("%w: %s (run `holdover files sync --once --force` to go on)", ErrGuard, root.Guard)
	}
	var problems []store.FileProblem
	ls, err := e.scanLocal(ctx, o.Force)
	st.Queued, st.Moves = ls.queued, ls.moves
	problems = append(problems, ls.problems...)
	if err != nil {
		e.record(ctx, err, problems, 0)
		return st, err
	}
	rs, err := e.pullRemote(ctx, o.Force)
	st.Downloaded, st.Bytes, st.RemovedLocal, st.Renamed = rs.downloaded, rs.bytes, rs.removed, rs.renamed
	problems = append(problems, rs.problems...)
	st.Problems = len(problems)
	if err == nil && o.Force && root.Guard != "" {
		err = e.opts.DB.Write(ctx, func(tx *store.Tx) error { return tx.SetFileGuard(ctx, e.opts.Account, "") })
	}
	e.record(ctx, err, problems, rs.pending)
	return st, err
}

// ScanLocal queues the local changes only (no server needed): what the
// watcher asks for, and what keeps working during an outage.
func (e *Engine) ScanLocal(ctx context.Context) (Stats, error) {
	root, err := e.opts.DB.FileRoot(ctx, e.opts.Account)
	if err != nil {
		return Stats{}, err
	}
	if root.Guard != "" {
		return Stats{}, fmt.Errorf("%w: %s", ErrGuard, root.Guard)
	}
	ls, err := e.scanLocal(ctx, false)
	return Stats{Queued: ls.queued, Moves: ls.moves, Problems: len(ls.problems)}, err
}

// record keeps the outcome of a pass for `files status`. A guard trip
// is recorded by the guard itself.
func (e *Engine) record(ctx context.Context, passErr error, problems []store.FileProblem, pendingDown int) {
	msg := ""
	if passErr != nil {
		if ctx.Err() != nil {
			return
		}
		msg = passErr.Error()
	}
	err := e.opts.DB.Write(context.WithoutCancel(ctx), func(tx *store.Tx) error {
		return tx.RecordFilePass(ctx, e.opts.Account, store.FilePassResult{Err: msg, Problems: problems, PendingDown: pendingDown})
	})
	if err != nil {
		e.log.Error("files: cannot record the pass", "err", err)
	}
}

// trip turns the guard on.
func (e *Engine) trip(ctx context.Context, why string) error {
	e.log.Error("files: mass-delete guard stopped the sync", "why", why)
	if err := e.opts.DB.Write(ctx, func(tx *store.Tx) error { return tx.SetFileGuard(ctx, e.opts.Account, why) }); err != nil {
		return err
	}
	return fmt.Errorf("%w: %s (run `holdover files sync --once --force` to go on)", ErrGuard, why)
}

// guard says why deleting n of total files on one side is too much ("" if
// it is not).
func (e *Engine) guard(side string, n, total int) string {
	if n == 0 {
		return ""
	}
	if c := e.opts.MaxDeleteCount; c > 0 && n > c {
		return fmt.Sprintf("the %s side would delete %d files, more than files.max_delete_count (%d)", side, n, c)
	}
	if n > guardFloor && total > 0 && n*100 > e.opts.MaxDelete*total {
		return fmt.Sprintf("the %s side would delete %d of %d files (%d%%), more than files.max_delete (%d%%)", side, n, total, n*100/total, e.opts.MaxDelete)
	}
	return ""
}

func (e *Engine) now() time.Time { return e.clk.Now() }
