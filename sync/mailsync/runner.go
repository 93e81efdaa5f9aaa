package mailsync

import (
	"context"
	gosync "sync"
	"time"

	"github.com/holdover/holdover/internal/backoff"
	hsync "github.com/holdover/holdover/sync"
)

// Runner keeps one account's mirror current: a full pass at start and
// every Interval, a folder pass when IDLE reports a change, a full pass
// on request (holdover sync --once). It owns its Engine; nothing else
// touches it, so passes never overlap.
type Runner struct {
	Engine   *Engine
	Interval time.Duration
	// IdleDial opens the sessions that wait in IDLE; nil disables push.
	IdleDial    hsync.MailIdleDialer
	IdleFolders []string // default: INBOX
	Health      *hsync.Health
	// Retry spaces out passes after failures and IDLE reconnects.
	Retry backoff.Policy

	once     gosync.Once
	requests chan request
}

type request struct {
	reply chan result
}

type result struct {
	stats Stats
	err   error
}

func (r *Runner) init() {
	r.once.Do(func() {
		r.requests = make(chan request)
		if r.Retry.Base == 0 {
			r.Retry = backoff.Policy{Base: time.Second, Cap: 5 * time.Minute}
		}
		if len(r.IdleFolders) == 0 {
			r.IdleFolders = []string{"INBOX"}
		}
		if r.Interval <= 0 {
			r.Interval = 5 * time.Minute
		}
	})
}

// SyncNow asks the running loop for a full pass and waits for it.
func (r *Runner) SyncNow(ctx context.Context) (Stats, error) {
	r.init()
	req := request{reply: make(chan result, 1)}
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

// Run loops until ctx ends; it returns nil then. Provider failures never
// end it: they are recorded in the health table and retried.
func (r *Runner) Run(ctx context.Context) error {
	r.init()
	defer r.Engine.Close()
	pokes := make(chan string, len(r.IdleFolders))
	var wg gosync.WaitGroup
	if r.IdleDial != nil {
		for _, f := range r.IdleFolders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.idleLoop(ctx, f, pokes)
			}()
		}
	}
	defer wg.Wait()

	failures := 0
	next := time.NewTimer(0)
	defer next.Stop()
	for {
		var res result
		var reply chan result
		select {
		case <-ctx.Done():
			return nil
		case <-next.C:
			res.stats, res.err = r.Engine.SyncOnce(ctx)
		case folder := <-pokes:
			res.stats, res.err = r.Engine.SyncFolder(ctx, folder)
		case req := <-r.requests:
			reply = req.reply
			res.stats, res.err = r.Engine.SyncOnce(ctx)
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
			r.Engine.log.Warn("mail sync failed", "err", res.err, "kind", hsync.KindOf(res.err).String(), "failures", failures, "retry_in", wait.Round(time.Millisecond))
			if r.Health != nil {
				r.Health.Failure(ctx, r.Engine.opts.Account, "imap", failures, res.err)
			}
		} else {
			failures = 0
			if r.Health != nil {
				r.Health.Success(ctx, r.Engine.opts.Account, "imap")
			}
			if res.stats.New+res.stats.Expunged+res.stats.FlagChanges > 0 {
				r.Engine.log.Info("mail synced", "new", res.stats.New, "downloaded", res.stats.Downloaded,
					"reused", res.stats.Reused, "flags", res.stats.FlagChanges, "expunged", res.stats.Expunged)
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

// idleLoop keeps an IDLE session on folder, reconnecting with backoff,
// and pokes the main loop on every change.
func (r *Runner) idleLoop(ctx context.Context, folder string, pokes chan<- string) {
	attempt := 0
	for ctx.Err() == nil {
		idler, err := r.IdleDial(ctx)
		if err == nil {
			started := time.Now()
			err = idler.Idle(ctx, folder, func() {
				select {
				case pokes <- folder:
				default: // a pass for it is already queued
				}
			})
			idler.Close()
			if time.Since(started) > time.Minute {
				attempt = 0
			}
		}
		if ctx.Err() != nil {
			return
		}
		if hsync.KindOf(err) == hsync.Permanent {
			r.Engine.log.Warn("IDLE unavailable; polling only", "folder", folder, "err", err)
			return
		}
		attempt++
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.Retry.Delay(attempt)):
		}
	}
}
