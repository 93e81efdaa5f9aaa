package outbox_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// gate is an executor that holds each action until released.
type gate struct {
	started chan int64
	release chan struct{}
}

func (g *gate) Execute(ctx context.Context, row store.OutboxRow) (func(*store.Tx) error, error) {
	select {
	case g.started <- row.ID:
	default: // a second start: the test fails on the row's state
	}
	select {
	case <-g.release:
		return nil, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *gate) Close() error { return nil }

// Workers that replay one service in parallel share a breaker: a worker
// that starts while another holds an action must not take that action
// for one a crash left behind.
func TestALateWorkerDoesNotRequeueAnotherWorkersAction(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"work"})
	db.Write(ctx, func(tx *store.Tx) error {
		_, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: "file.put", TargetKey: "file:a"})
		return err
	})
	g := &gate{started: make(chan int64, 1), release: make(chan struct{})}
	breaker := &outbox.Breaker{}
	mk := func() *outbox.Worker {
		return outbox.New(outbox.Worker{DB: db, Account: "work", Service: "webdav", Kinds: []string{"file.put"}, Exec: g, Breaker: breaker, Health: &hsync.Health{DB: db}})
	}
	first := make(chan error, 1)
	go func() { first <- mk().Drain(ctx) }()
	id := <-g.started // the first worker holds the action (inflight)
	late, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := mk().Drain(late); err != nil && late.Err() == nil {
		t.Fatal(err)
	}
	row, _ := db.OutboxRow(ctx, id)
	if row.State != store.OutboxInflight {
		t.Fatalf("the late worker turned the other's action into %s (%q)", row.State, row.LastError)
	}
	close(g.release)
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if row, _ := db.OutboxRow(ctx, id); row.State != store.OutboxDone || row.Attempts != 1 {
		t.Fatalf("action %s after %d attempts, want done after one", row.State, row.Attempts)
	}
}
