//go:build linux

package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	smtpconn "github.com/holdover/holdover/connectors/smtp"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
	"github.com/holdover/holdover/sync/outbox"
)

// TestOutboxBenchmark is issue 5's benchmark (bench/outbox.sh runs it):
// the latency of queueing a local change with synchronous=FULL, and how
// long the queue takes to drain once the provider answers: 1,000 flag and
// move actions against Dovecot, 100 messages to send against an SMTP sink.
func TestOutboxBenchmark(t *testing.T) {
	if os.Getenv("HOLDOVER_BENCH") != "1" {
		t.Skip("runs only with HOLDOVER_BENCH=1 (bench/outbox.sh sets it)")
	}
	ctx := context.Background()
	d := testenv.StartDovecot(t)
	c := d.Client(t)
	const n = 1000
	for i := 0; i < n; i++ {
		testenv.Append(t, c, "INBOX", []byte(fmt.Sprintf("From: a@example.com\r\nSubject: ob %d\r\nMessage-ID: <ob-%d@example.com>\r\n\r\n%s\r\n", i, i, strings.Repeat("text ", 200))), time.Time{})
	}
	icfg := imapconn.Config{Host: d.Host, Port: d.Port, TLS: "none", Username: d.User,
		Password: func(context.Context) (string, error) { return d.Password, nil }}
	dir := t.TempDir()
	db, err := store.Open(ctx, filepath.Join(dir, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"work"})
	eng := mailsync.New(mailsync.Options{Account: "work", DB: db, SpoolDir: dir,
		Dial: func(ctx context.Context) (hsync.MailRemote, error) { return imapconn.Dial(ctx, icfg) }})
	if _, err := eng.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	eng.Close()
	msgs, err := db.ListMailMessages(ctx, store.MailFilter{})
	if err != nil || len(msgs) != n {
		t.Fatalf("%d messages mirrored, %v", len(msgs), err)
	}

	// 1. Enqueue latency: 700 flag changes and 300 moves, each its own
	// durable transaction, no worker running (the provider is "down").
	local := &outbox.Local{DB: db, SpoolDir: dir}
	var lat []time.Duration
	for i, m := range msgs {
		start := time.Now()
		if i < 700 {
			_, err = local.Flag(ctx, m.ID, []string{`\Seen`, fmt.Sprintf("$b%d", i)}, nil)
		} else {
			_, err = local.Move(ctx, m.ID, "Archive")
		}
		lat = append(lat, time.Since(start))
		if err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]

	// 2. Drain 1,000 actions once the provider answers.
	w := outbox.New(outbox.Worker{DB: db, Account: "work", Service: "imap", Kinds: outbox.ServiceKinds["imap"],
		Exec: &outbox.IMAPExecutor{DB: db, Account: "work", Dial: func(ctx context.Context) (hsync.MailWriter, error) { return imapconn.Dial(ctx, icfg) }},
		Log:  slog.New(slog.DiscardHandler)})
	imapDrain := drain(t, db, w, n)

	// 3. Drain 100 sends through an SMTP sink.
	sink := testenv.StartSMTPSink(t)
	scfg := smtpconn.Config{Host: sink.Host, Port: sink.Port, TLS: "none", Username: sink.User,
		Password: func(context.Context) (string, error) { return sink.Password, nil }}
	for i := 0; i < 100; i++ {
		raw := fmt.Sprintf("From: me@example.com\r\nTo: r%d@example.com\r\nSubject: s%d\r\n\r\n%s", i, i, strings.Repeat("a line of text in a message body\r\n", 60))
		if _, err := local.Submit(ctx, "work", hsync.Envelope{From: "me@example.com", To: []string{fmt.Sprintf("r%d@example.com", i)}}, strings.NewReader(raw)); err != nil {
			t.Fatal(err)
		}
	}
	sw := outbox.New(outbox.Worker{DB: db, Account: "work", Service: "smtp", Kinds: outbox.ServiceKinds["smtp"],
		Exec: &outbox.SendExecutor{DB: db, Account: "work", Dial: func(ctx context.Context) (hsync.Sender, error) { return smtpconn.Dial(ctx, scfg) }},
		Log:  slog.New(slog.DiscardHandler)})
	sendDrain := drain(t, db, sw, n+100)
	if got := len(sink.Messages()); got != 100 {
		t.Fatalf("%d messages delivered, want 100", got)
	}

	fmt.Printf("\n%-44s %10s  %s\n", "measure", "value", "goal")
	fmt.Printf("%-44s %10s  %s\n", "enqueue latency p50 (synchronous=FULL)", p50.Round(10*time.Microsecond), "")
	fmt.Printf("%-44s %10s  %s\n", "enqueue latency p99", p99.Round(10*time.Microsecond), "<= 10ms")
	fmt.Printf("%-44s %10s  %s\n", "drain 1000 flag/move actions (Dovecot)", imapDrain.Round(time.Millisecond), "<= 10s")
	fmt.Printf("%-44s %10s  %s\n", "drain 100 sends (SMTP sink)", sendDrain.Round(time.Millisecond), "")
}

// drain runs w until the outbox has want done rows and returns how long
// that took.
func drain(t *testing.T, db *store.DB, w *outbox.Worker, want int) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for {
		counts, err := db.OutboxCounts(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if counts["work"][store.OutboxDone] >= want {
			return time.Since(start)
		}
		if bad := counts["work"][store.OutboxDead] + counts["work"][store.OutboxConflict]; bad > 0 {
			rows, _ := db.ListOutbox(context.Background(), store.OutboxFilter{State: store.OutboxDead})
			rows2, _ := db.ListOutbox(context.Background(), store.OutboxFilter{State: store.OutboxConflict})
			for _, r := range append(rows, rows2...) {
				t.Logf("%d %s %s: %s", r.ID, r.Kind, r.State, r.LastError)
			}
			t.Fatalf("%d actions ended dead or in conflict", bad)
		}
		if time.Since(start) > 5*time.Minute {
			t.Fatalf("not drained after 5 minutes: %v", counts["work"])
		}
		time.Sleep(5 * time.Millisecond)
	}
}
