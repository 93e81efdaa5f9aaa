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
// on request (holdover sync --once). After a successful pass it verifies
// the mirror in full and repairs it (Engine.Verify) when the last
// verification is older than VerifyEvery or an outage of the service has
// ended since. It owns its Engine; nothing else touches it, so passes
// never overlap.
type Runner struct {
	Engine   *Engine
	Interval time.Duration
	// VerifyEvery is the longest time between full verifications
	// (default 24 h); negative disables the periodic ones.
	VerifyEvery time.Duration
	// IdleDial opens the sessions that wait in IDLE; nil disables push.
	IdleDial    hsync.MailIdleDialer
	IdleFolders []string // default: INBOX
	Health      *hsync.Health
	// Retry spaces out passes after failures and IDLE reconnects.
	Retry backoff.Policy
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
	requests chan request
	// lastVerify is when the loop last started a verification: one that
	// cannot finish (a folder busy every time) is not retried before
	// Interval has passed, however often IDLE wakes the loop.
	lastVerify time.Time
}

type request struct {
	verify *VerifyMode // nil: a sync pass
	reply  chan result
}

type result struct {
	stats  Stats
	report VerifyReport
	err    error
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
		if r.VerifyEvery == 0 {
			r.VerifyEvery = 24 * time.Hour
		}
	})
}

// SyncNow asks the running loop for a full pass and waits for it.
func (r *Runner) SyncNow(ctx context.Context) (Stats, error) {
	res := r.ask(ctx, request{})
	return res.stats, res.err
}

// VerifyNow asks the running loop for a full verification and waits for
// it.
func (r *Runner) VerifyNow(ctx context.Context, mode VerifyMode) (VerifyReport, error) {
	res := r.ask(ctx, request{verify: &mode})
	return res.report, res.err
}

func (r *Runner) ask(ctx context.Context, req request) result {
	r.init()
	req.reply = make(chan result, 1)
	select {
	case r.requests <- req:
	case <-ctx.Done():
		return result{err: ctx.Err()}
	}
	select {
	case res := <-req.reply:
		return res
	case <-ctx.Done():
		return result{err: ctx.Err()}
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
		var began time.Time
		select {
		case <-ctx.Done():
			return nil
		case <-next.C:
			began = time.Now()
			res.stats, res.err = r.Engine.SyncOnce(ctx)
		case folder := <-pokes:
			began = time.Now()
			res.stats, res.err = r.Engine.SyncFolder(ctx, folder)
		case req := <-r.requests:
			began = time.Now()
			reply = req.reply
			if req.verify != nil {
				res.report, res.err = r.Engine.Verify(ctx, *req.verify)
				res.stats = res.report.Sync
			} else {
				res.stats, res.err = r.Engine.SyncOnce(ctx)
			}
		}
		if ctx.Err() != nil {
			if reply != nil {
				reply <- result{err: ctx.Err()}
			}
			return nil
		}
		if r.Passed != nil {
			r.Passed(res.stats, time.Since(began), res.err)
		}
		wait := r.Interval
		if res.err != nil {
			failures++
			wait = min(r.Interval, r.Retry.Delay(failures))
			if hsync.KindOf(res.err) == hsync.NeedsLogin {
				// Only a login helps; it asks for a pass itself.
				wait = r.Interval
			}
			r.Engine.log.Warn("mail sync failed", "err", res.err, "kind", hsync.KindOf(res.err).String(), "failures", failures, "retry_in", wait.Round(time.Millisecond))
			if r.Health != nil {
				r.Health.Failure(ctx, r.Engine.opts.Account, "imap", failures, res.err)
			}
		} else {
			failures = 0
			if r.Health != nil {
				r.Health.Success(ctx, r.Engine.opts.Account, "imap", r.Kinds...)
			}
			if r.Answered != nil {
				r.Answered(ctx)
			}
			if res.stats.New+res.stats.Expunged+res.stats.FlagChanges > 0 {
				r.Engine.log.Info("mail synced", "new", res.stats.New, "downloaded", res.stats.Downloaded,
					"reused", res.stats.Reused, "flags", res.stats.FlagChanges, "expunged", res.stats.Expunged)
			}
			if reply == nil && r.verifyDue(ctx) {
				r.verify(ctx)
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
			if err == nil && ctx.Err() == nil && time.Since(started) >= time.Second {
				// Ended on purpose, its sign-in running out: a new
				// session signs in with a fresh token, at once.
				attempt = 0
				continue
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
		wait := r.Retry.Delay(attempt)
		if hsync.KindOf(err) == hsync.NeedsLogin {
			wait = r.Interval // only a login helps: no reconnect loop
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// verifyDue reports whether a full verification is due: one was never
// done, the last is older than VerifyEvery, or an outage of the service
// ended since (replays and other clients' changes met while it lasted).
func (r *Runner) verifyDue(ctx context.Context) bool {
	if time.Since(r.lastVerify) < r.Interval {
		return false
	}
	db, account := r.Engine.opts.DB, r.Engine.opts.Account
	oldest, folders, err := db.OldestMailVerification(ctx, account)
	if err != nil || folders == 0 {
		return false
	}
	if r.VerifyEvery > 0 && time.Since(oldest) > r.VerifyEvery {
		return true
	}
	ended, err := db.LastOutageEnd(ctx, account, "imap")
	return err == nil && ended.After(oldest)
}

// verify runs a verification with repair from the loop; the engine logs
// what it finds.
func (r *Runner) verify(ctx context.Context) {
	r.lastVerify = time.Now()
	rep, err := r.Engine.Verify(ctx, Repair)
	if err != nil {
		r.Engine.log.Warn("mail verification failed; retried after a later pass", "err", err)
		return
	}
	r.Engine.log.Info("mail verified", "folders", rep.Folders, "messages", rep.Messages,
		"divergent_folders", len(rep.Divergences), "busy_folders", len(rep.Busy))
}
