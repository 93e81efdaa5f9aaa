package mailsync

import (
	"context"
	gosync "sync"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// changes collects the folders push reported until the loop gets to them:
// a burst of reports about a folder is one pass over it.
type changes struct {
	mu      gosync.Mutex
	folders map[string]bool // "" stands for every folder
	ready   chan struct{}   // one slot: something is waiting
}

func newChanges() *changes {
	return &changes{folders: map[string]bool{}, ready: make(chan struct{}, 1)}
}

// add records a change; it never blocks (it runs on a reading goroutine).
func (c *changes) add(folder string) {
	c.mu.Lock()
	c.folders[folder] = true
	c.mu.Unlock()
	select {
	case c.ready <- struct{}{}:
	default:
	}
}

// take returns and forgets the recorded changes.
func (c *changes) take() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, 0, len(c.folders))
	for f := range c.folders {
		out = append(out, f)
	}
	clear(c.folders)
	return out
}

// push keeps the account's push sessions until ctx ends: NOTIFY when the
// server offers it, else IDLE on IdleFolders with the poll turned on.
func (r *Runner) push(ctx context.Context, changed *changes) {
	if r.NotifyDial != nil && r.notifyLoop(ctx, changed) {
		return
	}
	r.polling.Store(true)
	if r.IdleDial == nil {
		return
	}
	var wg gosync.WaitGroup
	for _, f := range r.IdleFolders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.idleLoop(ctx, f, changed)
		}()
	}
	wg.Wait()
}

// notifyLoop keeps a NOTIFY session, reconnecting with backoff, and
// reports every change it hears of. Each time NOTIFY is (again) on, the
// session reports "" too: whatever changed before went unheard, and a
// SyncChanged pass (one round trip when nothing did) catches it. It
// returns false at once when the server has no NOTIFY.
func (r *Runner) notifyLoop(ctx context.Context, changed *changes) bool {
	attempt := 0
	for ctx.Err() == nil {
		n, err := r.NotifyDial(ctx)
		if err == nil {
			started := time.Now()
			err = n.Notify(ctx, changed.add)
			n.Close()
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
			return true
		}
		if hsync.KindOf(err) == hsync.Permanent {
			r.Engine.log.Info("NOTIFY unavailable; IDLE and polling instead", "err", err)
			return false
		}
		r.Engine.log.Warn("NOTIFY session lost; reconnecting", "err", err)
		attempt++
		select {
		case <-ctx.Done():
			return true
		case <-time.After(r.reconnectDelay(attempt, err)):
		}
	}
	return true
}

// idleLoop keeps an IDLE session on folder, reconnecting with backoff,
// and reports every change.
func (r *Runner) idleLoop(ctx context.Context, folder string, changed *changes) {
	attempt := 0
	for ctx.Err() == nil {
		idler, err := r.IdleDial(ctx)
		if err == nil {
			started := time.Now()
			err = idler.Idle(ctx, folder, func() { changed.add(folder) })
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
		select {
		case <-ctx.Done():
			return
		case <-time.After(r.reconnectDelay(attempt, err)):
		}
	}
}

// reconnectDelay is the wait before a push session's next attempt: the
// backoff, or a whole interval when only a new sign-in can help (no
// reconnect loop against the identity provider).
func (r *Runner) reconnectDelay(attempt int, err error) time.Duration {
	if hsync.KindOf(err) == hsync.NeedsLogin {
		return r.Interval
	}
	return r.Retry.Delay(attempt)
}
