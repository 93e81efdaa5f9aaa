package filesync

import (
	"context"
	"errors"
	gosync "sync"
	"time"

	"github.com/holdover/holdover/internal/backoff"
	hsync "github.com/holdover/holdover/sync"
)

// Runner keeps one account's folder in step: a whole pass at start, every
// Interval and on request; a local pass (no server needed) whenever the
// watcher reports a change. It owns its Engine, so passes never overlap,
// and it owns the watcher's goroutine.
type Runner struct {
	Engine   *Engine
	Interval time.Duration // between whole passes (0: 1 minute)
	Health   *hsync.Health
	Retry    backoff.Policy // spaces out passes after failures
	// Answered, when set, is called after each successful whole pass.
	Answered func(context.Context)
	// Queued, when set, is called after local changes were queued (the
	// daemon wakes the outbox workers).
	Queued func()
	// Passed, when set, is told of every whole pass (its stats, how long
	// it took, its error), for metrics and the status page.
	Passed func(Stats, time.Duration, error)
	// NoWatch turns the watcher off (tests that drive passes by hand).
	NoWatch bool

	once     gosync.Once
	requests chan request
	nudges   chan struct{}
}

type request struct {
	force bool
	reply chan result
}

type result struct {
	stats Stats
	err   error
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.requests = make(chan request)
		r.nudges = make(chan struct{}, 1)
		if r.Retry.Base == 0 {
			r.Retry = backoff.Policy{Base: time.Second, Cap: 5 * time.Minute}
		}
		if r.Interval <= 0 {
			r.Interval = time.Minute
		}
	})
}

// Nudge asks for a whole pass soon. It never blocks.
func (r *Runner) Nudge() {
	r.init()
	select {
	case r.nudges <- struct{}{}:
	default:
	}
}

// SyncNow asks the running loop for a whole pass and waits for it.
func (r *Runner) SyncNow(ctx context.Context, o SyncOptions) (Stats, error) {
	r.init()
	req := request{force: o.Force, reply: make(chan result, 1)}
	select {
	case r.requests <- req:
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
	select {
	case res := <-req.reply:
		return res.stats, res.err
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
}

// Run loops until ctx ends; provider failures never end it.
func (r *Runner) Run(ctx context.Context) error {
	r.init()
	e := r.Engine
	changed := make(chan struct{}, 1)
	var wg gosync.WaitGroup
	if !r.NoWatch {
		wg.Go(func() {
			err := e.opts.Local.Watch(ctx, func([]string) {
				select {
				case changed <- struct{}{}:
				default:
				}
			})
			if err != nil && ctx.Err() == nil {
				e.log.Error("files: the folder watcher stopped; changes are found by the periodic pass only", "err", err)
			}
		})
	}
	defer wg.Wait()
	failures := 0
	next := time.NewTimer(0)
	defer next.Stop()
	for {
		var req request
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
			st, err := e.ScanLocal(ctx)
			if err != nil && ctx.Err() == nil && !errors.Is(err, ErrGuard) {
				e.log.Warn("files: local scan failed", "err", err)
			}
			if st.Queued > 0 && r.Queued != nil {
				r.Queued()
			}
			continue
		case <-r.nudges:
		case <-next.C:
		case req = <-r.requests:
		}
		var res result
		began := time.Now()
		res.stats, res.err = e.Sync(ctx, SyncOptions{Force: req.force})
		if ctx.Err() == nil && r.Passed != nil {
			r.Passed(res.stats, time.Since(began), res.err)
		}
		if ctx.Err() != nil {
			if req.reply != nil {
				req.reply <- result{err: ctx.Err()}
			}
			return nil
		}
		if res.stats.Queued > 0 && r.Queued != nil {
			r.Queued()
		}
		wait := r.Interval
		switch {
		case res.err == nil:
			failures = 0
			if r.Health != nil {
				r.Health.Success(ctx, e.opts.Account, "webdav", Kinds...)
			}
			if r.Answered != nil {
				r.Answered(ctx)
			}
			if s := res.stats; s.Queued+s.Downloaded+s.RemovedLocal > 0 {
				e.log.Info("files synced", "queued", s.Queued, "moves", s.Moves, "downloaded", s.Downloaded, "bytes", s.Bytes, "removed_local", s.RemovedLocal, "problems", s.Problems)
			}
		case errors.Is(res.err, ErrGuard), errors.Is(res.err, ErrDiskFull):
			e.log.Error("files sync stopped", "err", res.err)
		default:
			failures++
			wait = min(r.Interval, r.Retry.Delay(failures))
			e.log.Warn("files sync failed", "err", res.err, "kind", hsync.KindOf(res.err).String(), "failures", failures, "retry_in", wait.Round(time.Millisecond))
			if r.Health != nil {
				r.Health.Failure(ctx, e.opts.Account, "webdav", failures, res.err)
			}
		}
		if req.reply != nil {
			req.reply <- res
		}
		if !next.Stop() {
			select {
			case <-next.C:
			default:
			}
		}
		next.Reset(wait)
	}
}
