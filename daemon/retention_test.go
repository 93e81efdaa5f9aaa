package daemon

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/holdover/holdover/internal/clock"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

// The daemon prunes finished outbox actions older than outbox.keep_done
// at start, with their bodies; the outage history shows the same counts
// afterwards, and the replayed counter does not go backwards.
func TestDaemonPrunesOldFinishedActionsAndOutagesKeepTheirCounts(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfgPath, data, "work")
	if err := prepareDataDir(data); err != nil {
		t.Fatal(err)
	}
	// Two months ago: an SMTP outage during which 3 messages were queued,
	// sent when it ended; a flag change done later.
	past := clock.NewFake(time.Now().Add(-60 * 24 * time.Hour))
	db, err := store.Open(ctx, filepath.Join(data, "holdover.db"), store.WithClock(past))
	if err != nil {
		t.Fatal(err)
	}
	db.EnsureAccounts(ctx, []string{"work"})
	health := hsync.Health{DB: db}
	for i := 1; i <= hsync.DownAfter; i++ {
		health.Failure(ctx, "work", "smtp", i, hsync.Errorf(hsync.Transient, "smtp", context.DeadlineExceeded))
	}
	var sends []int64
	for _, id := range []string{"a", "b", "c"} {
		db.Write(ctx, func(tx *store.Tx) error {
			body, err := tx.InsertMailBody(ctx, "work", "<"+id+"@x>", 1000, bytes.NewReader(bytes.Repeat([]byte("m"), 1000)))
			if err != nil {
				return err
			}
			n, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: "mail.send", TargetKey: "send:<" + id + "@x>", BodyID: body, Payload: []byte("{}")})
			sends = append(sends, n)
			return err
		})
	}
	past.Advance(time.Hour)
	if err := health.Success(ctx, "work", "smtp", outbox.ServiceKinds["smtp"]...); err != nil {
		t.Fatal(err)
	}
	for _, id := range sends {
		db.Write(ctx, func(tx *store.Tx) error { return tx.FinishOutbox(ctx, id, store.OutboxDone, "", time.Time{}) })
		if err := health.Replayed(ctx, "work", "smtp", past.Now(), outbox.ServiceKinds["smtp"]...); err != nil {
			t.Fatal(err)
		}
	}
	db.Write(ctx, func(tx *store.Tx) error {
		id, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: "mail.flags", TargetKey: "msg:1", Payload: []byte("{}")})
		if err != nil {
			return err
		}
		return tx.FinishOutbox(ctx, id, store.OutboxDone, "", time.Time{})
	})
	before, err := ListOutages(ctx, db, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 1 || before[0].Queued != 3 || before[0].Replayed != 3 {
		t.Fatalf("outages before pruning = %+v, want one with 3 queued and 3 replayed", before)
	}
	past.Advance(59 * 24 * time.Hour) // now, for the store
	prunable, err := db.PrunableOutbox(ctx, 30*24*time.Hour)
	if err != nil || prunable.Rows != 4 || prunable.Bytes < 3000 {
		t.Fatalf("prunable = %+v, %v; want the 4 actions and their 3 bodies", prunable, err)
	}
	db.Close()

	r := start(t, cfgPath)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := r.d.db.ListOutbox(ctx, store.OutboxFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 10s the daemon still keeps %d finished actions of two months ago", len(rows))
		}
		time.Sleep(20 * time.Millisecond)
	}
	after, err := ListOutages(ctx, r.d.db, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(before)
	a, _ := json.Marshal(after)
	if !bytes.Equal(a, b) {
		t.Fatalf("outages changed by pruning:\nbefore %s\nafter  %s", b, a)
	}
	rep, err := r.d.db.Check(ctx)
	if err != nil || !rep.OK || rep.Tables["mail_bodies"] != 0 || rep.Tables["mail_body_chunks"] != 0 {
		t.Errorf("after pruning: bodies %d, chunks %d, integrity %v, %v", rep.Tables["mail_bodies"], rep.Tables["mail_body_chunks"], rep.Integrity, err)
	}
	metrics, err := testutil.CollectAndFormat(newStoreCollector(r.d.db, r.d.log), expfmt.TypeTextPlain,
		"holdover_outbox_replayed_total", "holdover_outbox_pruned_total")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`holdover_outbox_replayed_total{account="work",service="smtp"} 3`,
		`holdover_outbox_replayed_total{account="work",service="imap"} 1`,
		`holdover_outbox_pruned_total{account="work",service="smtp"} 3`,
	} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
}

// At start the daemon removes the spool files a process that died
// between the network and its commit left a day or more ago; a fresh
// one (a submission in progress) and files that are not holdover's stay.
func TestDaemonSweepsSpoolFilesLeftByADeadProcess(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfgPath, data, "work")
	if err := prepareDataDir(data); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(data, "spool")
	old := time.Now().Add(-25 * time.Hour)
	files := map[string]bool{ // name: swept
		"holdover-submit-1":      true,
		"holdover-append-2":      true,
		"holdover-mail-3.spool":  true,
		"holdover-submit-fresh":  false,
		"notes-of-the-admin.txt": false,
	}
	for name := range files {
		p := filepath.Join(spool, name)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if name != "holdover-submit-fresh" {
			os.Chtimes(p, old, old)
		}
	}
	start(t, cfgPath)
	deadline := time.Now().Add(10 * time.Second)
	for name, swept := range files {
		for {
			_, err := os.Stat(filepath.Join(spool, name))
			if gone := os.IsNotExist(err); gone == swept {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: swept = %v, want %v", name, !swept, swept)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
