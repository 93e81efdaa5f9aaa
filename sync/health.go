package sync

import (
	"context"
	"errors"
	"time"

	"github.com/holdover/holdover/store"
)

// DownAfter is how many consecutive transient failures mark a service
// down and open an outage: one failure is a blip, three in a row (with
// the engine's retries between them) is the provider being away.
const DownAfter = 3

// Health records the outcome of each attempt to reach a provider service
// in provider_health and outages. It is the minimal breaker state the
// status command shows; the outbox worker (issue 5) adds probing and
// replay counts on top.
type Health struct {
	DB *store.DB
}

// Success marks the service up and closes its open outage, if any,
// recording how many actions of kinds waited for it and how many of them
// are done already (Replayed then counts the rest as they drain).
func (h Health) Success(ctx context.Context, account, service string, kinds ...string) error {
	return h.DB.Write(ctx, func(tx *store.Tx) error {
		_, err := success(ctx, tx, account, service, kinds)
		return err
	})
}

func success(ctx context.Context, tx *store.Tx, account, service string, kinds []string) (closed bool, err error) {
	if err := tx.SetHealth(ctx, account, service, store.HealthUp, 0, ""); err != nil {
		return false, err
	}
	since, open, err := tx.OpenOutageSince(ctx, account, service)
	if err != nil || !open {
		return false, err
	}
	queued, replayed, err := tx.CountOutageQueue(ctx, account, kinds, since)
	if err != nil {
		return false, err
	}
	return true, tx.CloseOutage(ctx, account, service, queued, replayed)
}

// Replayed records an action (of kinds, queued at createdAt) that reached
// the provider: the service is up. When that closes an open outage, the
// outage's counts include the action (it is done already); otherwise the
// action counts against the last outage, when it waited for it. Whoever
// saw the provider back first (a sync pass or this replay), each action
// is counted once.
func (h Health) Replayed(ctx context.Context, account, service string, createdAt time.Time, kinds ...string) error {
	return h.DB.Write(ctx, func(tx *store.Tx) error {
		closed, err := success(ctx, tx, account, service, kinds)
		if err != nil || closed {
			return err
		}
		return tx.CountOutageReplay(ctx, account, service, createdAt)
	})
}

// Failure records a failed attempt. failures is the count of consecutive
// failures including this one. Auth failures mark the service down at
// once (only the user can fix them); permanent ones degraded; transient
// ones down after DownAfter in a row, opening an outage. NeedsLogin is
// not an outage (store.HealthNeedsLogin).
func (h Health) Failure(ctx context.Context, account, service string, failures int, err error) error {
	if err == nil || errors.Is(err, context.Canceled) {
		return nil
	}
	if KindOf(err) == NeedsLogin {
		return h.needsLogin(ctx, account, service, err)
	}
	state := store.HealthDegraded
	switch KindOf(err) {
	case Auth:
		state = store.HealthDown
	case Transient:
		if failures >= DownAfter {
			state = store.HealthDown
		}
	}
	msg := KindOf(err).String() + ": " + err.Error()
	return h.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SetHealth(ctx, account, service, state, failures, msg); err != nil {
			return err
		}
		if state == store.HealthDown {
			_, err := tx.OpenOutage(ctx, account, service, msg)
			return err
		}
		return nil
	})
}

// needsLogin records that the service waits for a new sign-in: a state
// of its own, never down, and no outage is opened, since the provider itself may be
// fine. An outage already open (the identity provider was unreachable
// before it refused the sign-in) stays open until the service works
// again, so its counts include what waited for the login.
func (h Health) needsLogin(ctx context.Context, account, service string, err error) error {
	return h.DB.Write(ctx, func(tx *store.Tx) error {
		return tx.SetHealth(ctx, account, service, store.HealthNeedsLogin, 0, err.Error())
	})
}
