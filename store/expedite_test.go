package store

import (
	"context"
	"testing"
	"time"
)

func TestExpediteFailedMakesBackedOffActionsDueNow(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	db.EnsureAccounts(ctx, []string{"work"})
	kinds := []string{"mail.flags"}
	err := db.Write(ctx, func(tx *Tx) error {
		_, err := tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "mail.flags", TargetKey: "mail:1", Payload: []byte(`{}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	row, ok, err := db.ClaimOutbox(ctx, "work", kinds)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	db.Write(ctx, func(tx *Tx) error { return tx.FinishOutbox(ctx, row.ID, OutboxFailed, "down", t0.Add(5*time.Minute)) })
	if _, ok, _ := db.ClaimOutbox(ctx, "work", kinds); ok {
		t.Fatal("a backed-off action was claimed early")
	}
	if n, err := db.ExpediteFailed(ctx, "work", []string{"mail.move"}); err != nil || n != 0 {
		t.Fatalf("other kinds expedited: %d %v", n, err)
	}
	if n, err := db.ExpediteFailed(ctx, "work", kinds); err != nil || n != 1 {
		t.Fatalf("expedited %d, %v", n, err)
	}
	if _, ok, _ := db.ClaimOutbox(ctx, "work", kinds); !ok {
		t.Fatal("the expedited action is not due")
	}
}
