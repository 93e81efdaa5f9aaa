package calsync

import (
	"context"
	gosync "sync"
	"time"

	"github.com/holdover/holdover/internal/backoff"
	hsync "github.com/holdover/holdover/sync"
)

// Runner keeps one account's calendars current: a pass at start, every
// Interval (CalDAV has no standard push), and on request. It owns its
// Engine, so passes never overlap.
type Runner struct {
	Engine   *Engine
	Interval time.Duration
	Health   *hsync.Health
	Retry    backoff.Policy // spaces out passes after failures
	// Kinds are the outbox kinds of this service: an outage a pass ends
	// counts the actions of these kinds that waited for it.
	Kinds []string
	// Answered, when set, is called after each successful pass: the
	// provider is up (the daemon brings the queue's failed actions
	// forward).
	Answered func(context.Context)
	// Passed, when set, is told of every pass (its stats, how long it
	// took, its error): the daemon's metrics and status read it.
	Passed func(Stats, time.Duration, error)

	once     gosync.Once
	requests chan chan result
}

type result struct {
	stats Stats
	err   error
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.requests = make(chan chan result)
		if r.Retry.Base == 0 {
			r.Retry = backoff.Policy{Base: time.Second, Cap: 5 * time.Minute}
		}
		if r.Interval <= 0 {
			r.Interval = 5 * time.Minute
		}
	})
}

// SyncNow asks the running loop for a pass and waits for it.
func (r *Runner) SyncNow(ctx context.Context) (Stats, error) {
	r.init()
	reply := make(chan result, 1)
	select {
	case r.requests <- reply:
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
	select {
	case res := <-reply:
		return res.stats, res.err
	case <-ctx.Done():
		return Stats{}, ctx.Err()
	}
}

// Run loops until ctx ends; provider failures never end it: they are
// recorded in the health table and retried.
func (r *Runner) Run(ctx context.Context) error {
	r.init()
	account := r.Engine.opts.Account
	failures := 0
	next := time.NewTimer(0)
	defer next.Stop()
	for {
		var reply chan result
		select {
		case <-ctx.Done():
			return nil
		case <-next.C:
		case reply = <-r.requests:
		}
		var res result
		began := time.Now()
		res.stats, res.err = r.Engine.SyncOnce(ctx)
		if ctx.Err() == nil && r.Passed != nil {
			r.Passed(res.stats, time.Since(began), res.err)
		}
		if ctx.Err() != nil {
			if reply != nil {
				reply <- result{err: ctx.Err()}
			}
			return nil
		}
		wait := r.Interval
		if res.err != nil {
			failures++
			wait = min(r.Interval, r.Retry.Delay(failures))
			r.Engine.log.Warn("calendar sync failed", "err", res.err, "kind", hsync.KindOf(res.err).String(), "failures", failures, "retry_in", wait.Round(time.Millisecond))
			if r.Health != nil {
				r.Health.Failure(ctx, account, "caldav", failures, res.err)
			}
		} else {
			failures = 0
			if r.Health != nil {
				r.Health.Success(ctx, account, "caldav", r.Kinds...)
			}
			if r.Answered != nil {
				r.Answered(ctx)
			}
			if res.stats.Fetched+res.stats.Removed > 0 {
				r.Engine.log.Info("calendars synced", "fetched", res.stats.Fetched, "removed", res.stats.Removed, "bad", res.stats.Bad)
			}
		}
		if reply != nil {
			reply <- res
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
