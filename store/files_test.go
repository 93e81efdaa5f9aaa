package store

import (
	"context"
	"testing"
	"time"
)

func TestFileEntriesUnderAPathAreItAndItsDescendantsOnly(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	db.EnsureAccounts(ctx, []string{"work"})
	paths := []string{"a", "a/x", "a/y/z", "a b", "a-c", "a.txt", "a0", "ab/x", "b"}
	mtime := time.Unix(1700000000, 123456789).UTC()
	err := db.Write(ctx, func(tx *Tx) error {
		for _, p := range paths {
			if err := tx.PutFileEntry(ctx, FileEntry{Account: "work", Path: p, Size: 3, MTime: mtime, Hash: "h", ETag: `"e"`}); err != nil {
				return err
			}
		}
		got, err := tx.FileEntriesUnder(ctx, "work", "a")
		if err != nil {
			return err
		}
		var names []string
		for _, e := range got {
			names = append(names, e.Path)
		}
		if want := "[a a/x a/y/z]"; fmtList(names) != want {
			t.Errorf("under a = %v, want %s", names, want)
		}
		if !got[0].MTime.Equal(mtime) {
			t.Errorf("mtime %v lost precision (want %v)", got[0].MTime, mtime)
		}
		if err := tx.DeleteFileTree(ctx, "work", "a"); err != nil {
			return err
		}
		all, err := tx.FileEntriesUnder(ctx, "work", "")
		if len(all) != len(paths)-3 {
			t.Errorf("after deleting the tree of a, %d entries left, want %d", len(all), len(paths)-3)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fmtList(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}

func TestFileGuardKeepsItsStartAndPassRecordsProblems(t *testing.T) {
	db, clk := openTest(t)
	ctx := context.Background()
	db.EnsureAccounts(ctx, []string{"work"})
	db.Write(ctx, func(tx *Tx) error { return tx.SetFileGuard(ctx, "work", "would delete 90%") })
	first, _ := db.FileRoot(ctx, "work")
	clk.Advance(time.Minute)
	db.Write(ctx, func(tx *Tx) error { return tx.SetFileGuard(ctx, "work", "would delete 91%") })
	again, _ := db.FileRoot(ctx, "work")
	if again.Guard != "would delete 91%" || !again.GuardSince.Equal(first.GuardSince) || first.GuardSince.IsZero() {
		t.Fatalf("guard %q since %v (first since %v)", again.Guard, again.GuardSince, first.GuardSince)
	}
	err := db.Write(ctx, func(tx *Tx) error {
		if err := tx.SetFileGuard(ctx, "work", ""); err != nil {
			return err
		}
		return tx.RecordFilePass(ctx, "work", FilePassResult{Problems: []FileProblem{{Path: "a\x00b", Side: "remote", Problem: "NUL in name"}}, PendingDown: 2})
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := db.FileRoot(ctx, "work")
	if err != nil || r.Guard != "" || !r.GuardSince.IsZero() || len(r.Problems) != 1 || r.PendingDown != 2 || r.LastSyncAt.IsZero() {
		t.Fatalf("root %+v, %v", r, err)
	}
}

func TestActionWaitsForEarlierActionsOnItsSecondKey(t *testing.T) {
	db, _ := openTest(t)
	ctx := context.Background()
	db.EnsureAccounts(ctx, []string{"work"})
	kinds := []string{"file.put", "file.move"}
	var put, move, after int64
	db.Write(ctx, func(tx *Tx) error {
		put, _ = tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "file.put", TargetKey: "file:a"})
		move, _ = tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "file.move", TargetKey: "file:b", TargetKey2: "file:a"})
		after, _ = tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "file.put", TargetKey: "file:a"})
		return nil
	})
	row, ok, _ := db.ClaimOutbox(ctx, "work", kinds)
	if !ok || row.ID != put {
		t.Fatalf("claimed %d, want the put %d", row.ID, put)
	}
	if r, ok, _ := db.ClaimOutbox(ctx, "work", kinds); ok {
		t.Fatalf("claimed %d while the put on the move's source is in flight", r.ID)
	}
	db.Write(ctx, func(tx *Tx) error { return tx.FinishOutbox(ctx, put, OutboxDone, "", time.Time{}) })
	row, ok, _ = db.ClaimOutbox(ctx, "work", kinds)
	if !ok || row.ID != move || row.TargetKey2 != "file:a" {
		t.Fatalf("claimed %+v, want the move %d", row, move)
	}
	if r, ok, _ := db.ClaimOutbox(ctx, "work", kinds); ok {
		t.Fatalf("claimed %d on the move's source while the move is in flight", r.ID)
	}
	db.Write(ctx, func(tx *Tx) error { return tx.FinishOutbox(ctx, move, OutboxDone, "", time.Time{}) })
	if row, ok, _ = db.ClaimOutbox(ctx, "work", kinds); !ok || row.ID != after {
		t.Fatalf("claimed %d, want %d", row.ID, after)
	}
}
