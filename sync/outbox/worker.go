package outbox

import (
	"context"
	"errors"
	"log/slog"
	gosync "sync"
	"sync/atomic"
	"time"

	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/internal/clock"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// Executor replays actions of one service on the provider.
type Executor interface {
	// Execute replays row. On success it may return a function that runs
	// in the transaction marking the row done (to record what the provider
	// said, such as a new UID). Errors carry a sync kind. row.Attempts > 1
	// means an earlier attempt may have reached the provider: Execute must
	// check before doing it again (a send looks in Sent first).
	Execute(ctx context.Context, row store.OutboxRow) (func(*store.Tx) error, error)
	// Close drops the executor's sessions (after a failure, and at the end).
	Close() error
}

// Settled is what an executor returns, as its error, for an action the
// provider answered but that ends other than applied: a conflict the
// executor has already recorded (state conflict, parked for a person) or
// decided by policy (state done, the server's version kept). Apply runs
// in the transaction that records the state, so the local change and
// the outcome commit together.
type Settled struct {
	State store.OutboxState
	Err   error // why, with its sync kind (usually Conflict)
	Apply func(*store.Tx) error
}

func (s *Settled) Error() string { return s.Err.Error() }
func (s *Settled) Unwrap() error { return s.Err }

// Worker replays one account's actions for one service, one at a time,
// oldest first per target key. It sleeps until woken (a new action), a
// failed action is due, or Poll passes (actions queued by other
// processes); it never busy-polls.
type Worker struct {
	DB      *store.DB
	Account string
	Service string
	Kinds   []string
	Exec    Executor
	Health  *hsync.Health
	Policy  backoff.Policy // zero: backoff.Outbox
	Clock   clock.Clock    // nil: the wall clock
	Log     *slog.Logger
	Poll    time.Duration // zero: 30 s
	// Done, when set, is called after an action is recorded done (a send
	// queues its Sent copy for the IMAP worker, which must be woken).
	Done func(store.OutboxRow)

	// Breaker, when set, is shared by the workers that replay one
	// service in parallel (files transfers), so that DownAfter failures
	// in a row mean an outage whichever worker met them.
	Breaker *Breaker

	wake chan struct{}
}

// Breaker counts a service's consecutive transient failures. It also
// makes the recovery of interrupted actions happen once, before any of
// the workers sharing it claims one: a worker starting late must not take
// a row another has just claimed for one a crash left behind.
type Breaker struct {
	n          atomic.Int64
	recovery   gosync.Once
	recoverErr error
}

// recover requeues what a crash left inflight, once per breaker.
func (w *Worker) recover(ctx context.Context) error {
	w.Breaker.recovery.Do(func() { w.Breaker.recoverErr = w.requeueInterrupted(ctx) })
	return w.Breaker.recoverErr
}

func (w *Worker) failures() int { return int(w.Breaker.n.Load()) }

// Wake makes the worker look for work now. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Worker) init() {
	if w.wake == nil {
		w.wake = make(chan struct{}, 1)
	}
	if w.Policy.Base == 0 {
		w.Policy = backoff.Outbox
	}
	if w.Clock == nil {
		w.Clock = clock.Real{}
	}
	if w.Poll == 0 {
		w.Poll = 30 * time.Second
	}
	if w.Log == nil {
		w.Log = slog.New(slog.DiscardHandler)
	}
	if w.Breaker == nil {
		w.Breaker = &Breaker{}
	}
	w.Log = w.Log.With("account", w.Account, "service", w.Service)
}

// New returns a worker ready to Run (its Wake works before Run starts).
func New(w Worker) *Worker {
	w.init()
	return &w
}

// Run replays actions until ctx ends, then returns nil.
func (w *Worker) Run(ctx context.Context) error {
	if w.wake == nil {
		w.init()
	}
	defer w.Exec.Close()
	if err := w.recover(ctx); err != nil {
		return err
	}
	for {
		row, ok, err := w.DB.ClaimOutbox(ctx, w.Account, w.Kinds)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			w.Log.Error("outbox: cannot read the queue", "err", err)
			if !w.sleep(ctx, time.Second) {
				return nil
			}
			continue
		}
		if ok {
			w.process(ctx, row)
			if ctx.Err() != nil {
				return nil
			}
			// An open breaker probes with one action at a time, spaced out,
			// instead of hammering a provider that is down.
			if n := w.failures(); n >= hsync.DownAfter && !w.sleep(ctx, w.Policy.Delay(n)) {
				return nil
			}
			continue
		}
		wait := w.Poll
		if at, has, err := w.DB.NextOutboxAttempt(ctx, w.Account, w.Kinds); err == nil && has {
			wait = min(wait, max(0, at.Sub(w.Clock.Now())))
		}
		if !w.sleep(ctx, wait) {
			return nil
		}
	}
}

// Drain replays the actions that are runnable now, one after the other,
// and returns when none is left (a command run without a daemon). An
// action that fails waits for its retry like under Run; Drain does not.
func (w *Worker) Drain(ctx context.Context) error {
	if w.wake == nil {
		w.init()
	}
	defer w.Exec.Close()
	if err := w.recover(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		row, ok, err := w.DB.ClaimOutbox(ctx, w.Account, w.Kinds)
		if err != nil || !ok {
			return err
		}
		w.process(ctx, row)
	}
	return ctx.Err()
}

// sleep waits for d, a wake-up or the end of ctx (false).
func (w *Worker) sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-w.wake:
		return true
	case <-w.Clock.After(d):
		return true
	}
}

// requeueInterrupted turns actions a crash left inflight into failed ones
// due now. Their attempt is counted, so Execute knows to check whether it
// reached the provider before doing it again.
func (w *Worker) requeueInterrupted(ctx context.Context) error {
	rows, err := w.DB.InflightOutbox(ctx, w.Account, w.Kinds)
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return nil
	}
	return w.DB.Write(ctx, func(tx *store.Tx) error {
		for _, r := range rows {
			w.Log.Warn("outbox: action was interrupted; it will be checked and retried", "id", r.ID, "kind", r.Kind)
			if err := tx.FinishOutbox(ctx, r.ID, store.OutboxFailed, "interrupted (the daemon stopped during the attempt)", w.Clock.Now()); err != nil {
				return err
			}
		}
		return nil
	})
}

// process replays one claimed action and records the outcome.
func (w *Worker) process(ctx context.Context, row store.OutboxRow) {
	apply, err := w.Exec.Execute(ctx, row)
	// The outcome is recorded even when ctx ended meanwhile.
	rec := context.WithoutCancel(ctx)
	if ctx.Err() != nil && err != nil {
		w.finish(rec, row, store.OutboxFailed, "interrupted by shutdown", w.Clock.Now(), nil)
		return
	}
	if err == nil {
		if w.finish(rec, row, store.OutboxDone, "", time.Time{}, apply) {
			w.Breaker.n.Store(0)
			// Closes an open outage (which counts this done row), or adds
			// the row to the last outage's replayed count.
			w.health(rec, func(h *hsync.Health) error { return h.Replayed(rec, w.Account, w.Service, row.CreatedAt, w.Kinds...) })
			if w.Done != nil {
				w.Done(row)
			}
		}
		return
	}
	var settled *Settled
	if errors.As(err, &settled) {
		w.Log.Warn("outbox: action settled without being applied", "id", row.ID, "kind", row.Kind, "state", settled.State, "why", settled.Err)
		w.finish(rec, row, settled.State, hsync.KindOf(settled).String()+": "+settled.Error(), time.Time{}, settled.Apply)
		w.answered(rec)
		return
	}
	w.Exec.Close() // the session's state is unknown after a failure
	msg := hsync.KindOf(err).String() + ": " + err.Error()
	switch hsync.KindOf(err) {
	case hsync.Transient:
		n := int(w.Breaker.n.Add(1))
		next := w.Clock.Now().Add(w.Policy.Delay(row.Attempts))
		w.Log.Warn("outbox: action failed; will retry", "id", row.ID, "kind", row.Kind, "attempt", row.Attempts, "retry_at", next, "err", err)
		w.finish(rec, row, store.OutboxFailed, msg, next, nil)
		w.health(rec, func(h *hsync.Health) error { return h.Failure(rec, w.Account, w.Service, n, err) })
	case hsync.Auth:
		n := int(w.Breaker.n.Add(1))
		next := w.Clock.Now().Add(w.Policy.Cap)
		w.Log.Error("outbox: the provider refused the login; the queue is kept until the credentials are fixed", "id", row.ID, "err", err)
		w.finish(rec, row, store.OutboxFailed, msg, next, nil)
		w.health(rec, func(h *hsync.Health) error { return h.Failure(rec, w.Account, w.Service, n, err) })
	case hsync.NeedsLogin:
		// Not an outage and not worth retrying: the breaker is left alone
		// and the action waits until a login brings it forward (the
		// daemon expedites the queue then).
		next := w.Clock.Now().Add(w.Policy.Cap)
		w.Log.Warn("outbox: the account needs a new sign-in; the queue is kept until `holdover account login`", "id", row.ID, "err", err)
		w.finish(rec, row, store.OutboxFailed, msg, next, nil)
		w.health(rec, func(h *hsync.Health) error { return h.Failure(rec, w.Account, w.Service, 1, err) })
	case hsync.Conflict:
		w.Log.Warn("outbox: conflict; kept for the user", "id", row.ID, "kind", row.Kind, "err", err)
		w.finish(rec, row, store.OutboxConflict, msg, time.Time{}, nil)
		w.answered(rec)
	default:
		w.Log.Error("outbox: the provider refused the action for good; kept as dead", "id", row.ID, "kind", row.Kind, "err", err)
		w.finish(rec, row, store.OutboxDead, msg, time.Time{}, nil)
		w.answered(rec)
	}
}

// answered records that the provider is up: it answered, if with a no.
func (w *Worker) answered(ctx context.Context) {
	w.Breaker.n.Store(0)
	w.health(ctx, func(h *hsync.Health) error { return h.Success(ctx, w.Account, w.Service, w.Kinds...) })
}

func (w *Worker) finish(ctx context.Context, row store.OutboxRow, state store.OutboxState, msg string, next time.Time, apply func(*store.Tx) error) bool {
	err := w.DB.Write(ctx, func(tx *store.Tx) error {
		if apply != nil {
			if err := apply(tx); err != nil {
				return err
			}
		}
		return tx.FinishOutbox(ctx, row.ID, state, msg, next)
	})
	if err != nil {
		// The row stays inflight; the next start re-checks it.
		w.Log.Error("outbox: cannot record the outcome", "id", row.ID, "state", state, "err", err)
		return false
	}
	return true
}

func (w *Worker) health(ctx context.Context, f func(*hsync.Health) error) {
	if w.Health == nil {
		return
	}
	if err := f(w.Health); err != nil && !errors.Is(err, context.Canceled) {
		w.Log.Error("cannot record provider health", "err", err)
	}
}
