package outbox_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// refusing is an executor whose sign-in is gone.
type refusing struct{ calls int }

func (r *refusing) Execute(context.Context, store.OutboxRow) (func(*store.Tx) error, error) {
	r.calls++
	return nil, hsync.Errorf(hsync.NeedsLogin, "oauth2 sign-in", errors.New("invalid_grant: run `holdover account login work`"))
}

func (r *refusing) Close() error { return nil }

func TestNeedsLoginKeepsTheQueueOpensNoOutageAndWaits(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"work"})
	db.Write(ctx, func(tx *store.Tx) error {
		for _, k := range []string{"send:1", "send:2", "send:3", "send:4"} {
			if _, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: outbox.KindSend, TargetKey: k}); err != nil {
				return err
			}
		}
		return nil
	})
	x := &refusing{}
	w := outbox.New(outbox.Worker{DB: db, Account: "work", Service: "smtp", Kinds: outbox.ServiceKinds["smtp"], Exec: x,
		Health: &hsync.Health{DB: db}, Policy: backoff.Policy{Base: time.Millisecond, Cap: time.Hour}})
	if err := w.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if x.calls != 4 {
		t.Errorf("%d attempts; want each action tried once, then left waiting", x.calls)
	}
	rows, _ := db.ListOutbox(ctx, store.OutboxFilter{Account: "work", State: store.OutboxFailed})
	for _, r := range rows {
		if r.NextAttemptAt.Before(time.Now().Add(50 * time.Minute)) {
			t.Errorf("action %d retries at %v; want it to wait for a login (the policy's cap)", r.ID, r.NextAttemptAt)
		}
	}
	if len(rows) != 4 {
		t.Errorf("%d of 4 actions kept", len(rows))
	}
	health, _ := db.HealthRows(ctx)
	if len(health) != 1 || health[0].State != store.HealthNeedsLogin {
		t.Errorf("health = %+v; want needs-login", health)
	}
	if outages, _ := db.Outages(ctx, 0); len(outages) != 0 {
		t.Errorf("outages = %+v; needs-login is not an outage", outages)
	}
}
