package store

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

const keep30d = 30 * 24 * time.Hour

// enqueueBody queues an action carrying a stored body of size bytes and
// returns the action's and the body's ids.
func enqueueBody(t testing.TB, db *DB, kind, key string, size int) (id, body int64) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *Tx) error {
		var err error
		body, err = tx.InsertMailBody(context.Background(), "work", "<"+key+"@x>", int64(size), bytes.NewReader(bytes.Repeat([]byte("x"), size)))
		if err != nil {
			return err
		}
		id, err = tx.EnqueueOutbox(context.Background(), OutboxAction{Account: "work", Kind: kind, TargetKey: key, BodyID: body, Payload: []byte(`{"p":1}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id, body
}

func enqueuePlain(t testing.TB, db *DB, kind, key string, bodyID int64) int64 {
	t.Helper()
	var id int64
	err := db.Write(context.Background(), func(tx *Tx) (err error) {
		id, err = tx.EnqueueOutbox(context.Background(), OutboxAction{Account: "work", Kind: kind, TargetKey: key, BodyID: bodyID, Payload: []byte(`{"p":1}`)})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func finish(t testing.TB, db *DB, id int64, s OutboxState) {
	t.Helper()
	if err := db.Write(context.Background(), func(tx *Tx) error { return tx.FinishOutbox(context.Background(), id, s, "", time.Time{}) }); err != nil {
		t.Fatal(err)
	}
}

func count(t testing.TB, db *DB, q string, args ...any) int {
	t.Helper()
	var n int
	if err := db.r.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestPruneDeletesOldFinishedActionsWithTheirBodiesAndNothingElse(t *testing.T) {
	ctx := context.Background()
	db, c := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})

	sent, sentBody := enqueueBody(t, db, "mail.send", "send:a", 300_000) // two chunks
	finish(t, db, sent, OutboxDone)
	cancelled := enqueuePlain(t, db, "cal.put", "cal:1", 0)
	finish(t, db, cancelled, OutboxCancelled)
	// A body shared with an action still to run stays.
	shared, sharedBody := enqueueBody(t, db, "mail.send", "send:b", 1000)
	finish(t, db, shared, OutboxDone)
	appendLater := enqueuePlain(t, db, "mail.append", "append:b", sharedBody)
	// A body the mirror shows as a message stays.
	mirrored, mirroredBody := enqueueBody(t, db, "mail.send", "send:c", 500)
	finish(t, db, mirrored, OutboxDone)
	err := db.Write(ctx, func(tx *Tx) error {
		f, err := tx.UpsertMailFolder(ctx, "work", "Sent", "/", `\Sent`)
		if err != nil {
			return err
		}
		_, err = tx.InsertMailMessage(ctx, MailMessage{FolderID: f, UID: 1, BodyID: mirroredBody, MessageID: "<send:c@x>", Size: 500, InternalDate: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// What a person still needs: a conflict's action, unfinished work.
	conflicted := enqueuePlain(t, db, "cal.put", "cal:2", 0)
	finish(t, db, conflicted, OutboxDone)
	db.Write(ctx, func(tx *Tx) error {
		_, err := tx.InsertConflict(ctx, Conflict{Account: "work", Kind: "calendar", TargetKey: "cal:2", OutboxID: conflicted, Policy: "server-wins", Resolution: "remote"})
		return err
	})
	dead := enqueuePlain(t, db, "file.put", "file:x", 0)
	finish(t, db, dead, OutboxDead)
	failed := enqueuePlain(t, db, "file.put", "file:y", 0)
	finish(t, db, failed, OutboxFailed)

	c.Advance(20 * 24 * time.Hour)
	recent := enqueuePlain(t, db, "mail.flags", "INBOX/1", 0)
	finish(t, db, recent, OutboxDone)
	c.Advance(11 * 24 * time.Hour) // the first rows finished 31 days ago, recent 11

	if got, err := db.PrunableOutbox(ctx, 0); err != nil || got.Rows != 0 {
		t.Fatalf("keep 0 would prune %+v, %v; want nothing", got, err)
	}
	before, err := db.PrunableOutbox(ctx, keep30d)
	if err != nil {
		t.Fatal(err)
	}
	payloads := int64(4 * len(`{"p":1}`))
	if before.Rows != 4 || before.Bytes != payloads+300_000 {
		t.Fatalf("prunable = %+v, want 4 rows and %d bytes (payloads + the one body freed)", before, payloads+300_000)
	}
	got, err := db.PruneOutbox(ctx, keep30d)
	if err != nil {
		t.Fatal(err)
	}
	if got != before {
		t.Fatalf("pruned %+v, reported prunable %+v", got, before)
	}
	left := map[int64]bool{}
	rows, _ := db.ListOutbox(ctx, OutboxFilter{})
	for _, r := range rows {
		left[r.ID] = true
	}
	for _, id := range []int64{sent, cancelled, shared, mirrored} {
		if left[id] {
			t.Errorf("action %d was not pruned", id)
		}
	}
	for _, id := range []int64{appendLater, conflicted, dead, failed, recent} {
		if !left[id] {
			t.Errorf("action %d was pruned", id)
		}
	}
	if n := count(t, db, `SELECT count(*) FROM mail_bodies WHERE id = ?`, sentBody); n != 0 {
		t.Error("the sent body was kept")
	}
	if n := count(t, db, `SELECT count(*) FROM mail_body_chunks WHERE body_id = ?`, sentBody); n != 0 {
		t.Errorf("%d chunks of the sent body were kept", n)
	}
	if n := count(t, db, `SELECT count(*) FROM mail_bodies WHERE id IN (?, ?)`, sharedBody, mirroredBody); n != 2 {
		t.Errorf("%d of the 2 bodies still referred to were kept", n)
	}
	if again, _ := db.PrunableOutbox(ctx, keep30d); again.Rows != 0 {
		t.Errorf("after pruning, still prunable: %+v", again)
	}
	pc, err := db.OutboxPrunedCounts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]OutboxPrunedCount{
		{"work", "cal.put", OutboxCancelled, 1, 7},
		{"work", "mail.send", OutboxDone, 3, 3*7 + 300_000},
	})
	if fmt.Sprint(pc) != want {
		t.Errorf("pruned counts = %v\nwant %v", pc, want)
	}
	rep, err := db.Check(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("integrity after pruning: %+v, %v", rep.Integrity, err)
	}
}

func TestPruneKeepsWhatAnOpenOutageCountsAndClosedOutagesKeepTheirCounts(t *testing.T) {
	ctx := context.Background()
	db, c := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	kinds := []string{"cal.put"}
	outageCounts := func() string {
		os, err := db.Outages(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		var parts []string
		for _, o := range os {
			if o.Open() {
				o.Queued, o.Replayed, err = db.OutageQueueSoFar(ctx, o.Account, kinds, o.StartedAt)
				if err != nil {
					t.Fatal(err)
				}
			}
			parts = append(parts, fmt.Sprintf("%s open=%v queued=%d replayed=%d", o.Service, o.Open(), o.Queued, o.Replayed))
		}
		return strings.Join(parts, "; ")
	}
	// A closed outage of caldav: 3 actions queued during it, replayed after.
	db.Write(ctx, func(tx *Tx) error { _, err := tx.OpenOutage(ctx, "work", "caldav", "timeout"); return err })
	var closedIDs []int64
	for i := range 3 {
		closedIDs = append(closedIDs, enqueuePlain(t, db, "cal.put", fmt.Sprintf("cal:%d", i), 0))
	}
	c.Advance(time.Hour)
	for _, id := range closedIDs {
		finish(t, db, id, OutboxDone)
	}
	err := db.Write(ctx, func(tx *Tx) error {
		since, _, err := tx.OpenOutageSince(ctx, "work", "caldav")
		if err != nil {
			return err
		}
		q, r, err := tx.CountOutageQueue(ctx, "work", kinds, since)
		if err != nil {
			return err
		}
		return tx.CloseOutage(ctx, "work", "caldav", q, r)
	})
	if err != nil {
		t.Fatal(err)
	}
	// An open outage (of webdav, counted here over cal.put too) whose
	// replayed actions finished during it, long ago.
	c.Advance(time.Hour)
	db.Write(ctx, func(tx *Tx) error { _, err := tx.OpenOutage(ctx, "work", "webdav", "timeout"); return err })
	c.Advance(time.Minute)
	duringOpen := enqueuePlain(t, db, "cal.put", "cal:9", 0)
	finish(t, db, duringOpen, OutboxDone)

	c.Advance(60 * 24 * time.Hour)
	before := outageCounts()
	if !strings.Contains(before, "caldav open=false queued=3 replayed=3") || !strings.Contains(before, "webdav open=true queued=1 replayed=1") {
		t.Fatalf("outages before pruning: %s", before)
	}
	got, err := db.PruneOutbox(ctx, keep30d)
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows != 3 {
		// The closed outage's rows go; the one the open outage counts
		// stays while it lasts.
		t.Errorf("pruned %d rows, want the 3 the closed outage counted", got.Rows)
	}
	if after := outageCounts(); after != before {
		t.Fatalf("outage counts changed by pruning:\nbefore %s\nafter  %s", before, after)
	}
	// Once it ends its counts are on its row, and its rows may go.
	db.Write(ctx, func(tx *Tx) error {
		since, _, _ := tx.OpenOutageSince(ctx, "work", "webdav")
		q, r, err := tx.CountOutageQueue(ctx, "work", kinds, since)
		if err != nil {
			return err
		}
		return tx.CloseOutage(ctx, "work", "webdav", q, r)
	})
	before = outageCounts()
	if got, err = db.PruneOutbox(ctx, keep30d); err != nil || got.Rows != 1 {
		t.Fatalf("pruned %+v, %v; want the row the outage counted", got, err)
	}
	if after := outageCounts(); after != before {
		t.Fatalf("outage counts changed by pruning:\nbefore %s\nafter  %s", before, after)
	}
}

// TestPruneNeverHoldsTheWriterLong prunes 20,000 rows while another
// writer commits small changes, as the outbox does when a local change
// arrives, and measures how long that writer ever waits.
func TestPruneNeverHoldsTheWriterLong(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 rows")
	}
	ctx := context.Background()
	db, c := openTest(t)
	db.EnsureAccounts(ctx, []string{"work"})
	const n = 20_000
	err := db.Write(ctx, func(tx *Tx) error {
		for i := range n {
			var body any
			if i%10 == 0 {
				id, err := tx.InsertMailBody(ctx, "work", fmt.Sprintf("<%d@x>", i), 4000, bytes.NewReader(bytes.Repeat([]byte("b"), 4000)))
				if err != nil {
					return err
				}
				body = id
			}
			if _, err := tx.exec(ctx, `INSERT INTO outbox (account, kind, target_key, payload, body_id, state, created_at, updated_at) VALUES ('work', 'mail.send', ?, ?, ?, 'done', ?, ?)`,
				fmt.Sprintf("send:%d", i), bytes.Repeat([]byte("p"), 200), body, tx.now, tx.now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Advance(31 * 24 * time.Hour)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var maxWait time.Duration
	var commits int
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			start := time.Now()
			err := db.Write(ctx, func(tx *Tx) error {
				_, err := tx.EnqueueOutbox(ctx, OutboxAction{Account: "work", Kind: "mail.flags", TargetKey: "INBOX/1", Payload: []byte("{}")})
				return err
			})
			if err != nil {
				t.Error(err)
				return
			}
			maxWait = max(maxWait, time.Since(start))
			commits++
			time.Sleep(2 * time.Millisecond)
		}
	}()
	start := time.Now()
	got, err := db.PruneOutbox(ctx, keep30d)
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if got.Rows != n || got.Bytes != n*200+n/10*4000 {
		t.Fatalf("pruned %+v, want %d rows", got, n)
	}
	t.Logf("pruned %d rows (%d bytes) in %s; the other writer committed %d times, waiting at most %s",
		got.Rows, got.Bytes, took.Round(time.Millisecond), commits, maxWait.Round(time.Millisecond))
	if commits < 10 {
		t.Errorf("the other writer committed only %d times during %s of pruning", commits, took)
	}
	// One batch of 200 rows, not the 20,000: a bound with room for -race
	// on a shared machine, still far below the whole pruning.
	if limit := 500 * time.Millisecond; maxWait > limit || (took > 4*limit && maxWait > took/4) {
		t.Errorf("the other writer waited %s (the whole pruning took %s)", maxWait, took)
	}
}
