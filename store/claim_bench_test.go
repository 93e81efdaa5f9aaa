package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkClaimDrain claims and finishes a queue of 5,000 file uploads,
// as an initial upload does: the claim must not rescan what is done.
func BenchmarkClaimDrain(b *testing.B) {
	ctx := context.Background()
	for range b.N {
		b.StopTimer()
		db, _ := openTest(b)
		db.EnsureAccounts(ctx, []string{"work"})
		db.Write(ctx, func(tx *Tx) error {
			for i := range 5000 {
				dir := fmt.Sprintf("d%d", i%250)
				if i < 250 {
					tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "file.mkdir", TargetKey: "file:" + dir})
					continue
				}
				tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "file.put", TargetKey: fmt.Sprintf("file:%s/f%d", dir, i), TargetKey2: "file:" + dir})
			}
			return nil
		})
		b.StartTimer()
		kinds := []string{"file.put", "file.mkdir", "file.delete", "file.move"}
		for {
			row, ok, err := db.ClaimOutbox(ctx, "work", kinds)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				break
			}
			db.Write(ctx, func(tx *Tx) error { return tx.FinishOutbox(ctx, row.ID, OutboxDone, "", time.Time{}) })
		}
		b.StopTimer()
		db.Close()
	}
}
