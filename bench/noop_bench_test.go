//go:build linux

package bench

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
)

var (
	flagNoopMsgs    = flag.Int("noop-msgs", 50000, "BenchmarkMailNoop: messages, spread over -noop-folders folders")
	flagNoopFolders = flag.Int("noop-folders", 200, "BenchmarkMailNoop: folders besides INBOX and the special ones")
)

// BenchmarkMailNoop measures a resync of an unchanged account (issue 14:
// one round trip whatever the folder count) on loopback and through
// faultproxy with 25 ms each way (a 50 ms round trip; and through
// delayProxy, which models the same link more faithfully), on a session the
// engine keeps and on a new one (connect, log in, then the pass: what
// `holdover sync --once` costs). Run:
//
//	go test -tags sqlite_fts5 -run '^$' -bench MailNoop -benchtime 20x ./bench/
//
// The set-up writes the mailbox as maildir files and syncs it once (about
// a minute for 50,000 small messages); the messages are tiny because a
// no-op never reads them.
func BenchmarkMailNoop(b *testing.B) {
	d := testenv.StartDovecot(b)
	o, err := ownerOf(filepath.Dir(d.MailDir))
	if err != nil {
		b.Fatal(err)
	}
	n, folders := *flagNoopMsgs, *flagNoopFolders
	began := time.Now()
	for fi := range folders {
		dir, err := mkFolder(d.MailDir, fmt.Sprintf(".F%03d", fi), o)
		if err != nil {
			b.Fatal(err)
		}
		for k := fi; k < n; k += folders {
			date := genNow.Add(-time.Duration(k) * time.Minute)
			raw := fmt.Appendf(nil, "From: a@example.com\nTo: me@example.com\nSubject: message %d\nMessage-ID: <%d.noop@example.com>\nDate: %s\n\nbody %d\n",
				k, k, date.Format(time.RFC1123Z), k)
			if err := writeMessage(dir, k, date, raw, "S", o); err != nil {
				b.Fatal(err)
			}
		}
	}
	wrote := time.Since(began)

	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(b.TempDir(), "holdover.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureAccounts(ctx, []string{"work"}); err != nil {
		b.Fatal(err)
	}
	cfg := imapconn.Config{Host: d.Host, Port: d.Port, TLS: "none", Username: d.User,
		Password: func(context.Context) (string, error) { return d.Password, nil }}
	engine := func(cfg imapconn.Config) *mailsync.Engine {
		return mailsync.New(mailsync.Options{Account: "work", DB: db, SpoolDir: b.TempDir(),
			Log:  slog.New(slog.DiscardHandler),
			Dial: func(ctx context.Context) (hsync.MailRemote, error) { return imapconn.Dial(ctx, cfg) }})
	}
	began = time.Now()
	first := engine(cfg)
	st, err := first.SyncOnce(ctx)
	first.Close()
	if err != nil || st.New != n {
		b.Fatalf("initial sync: %+v, %v; want %d messages", st, err, n)
	}
	b.Logf("set-up: %d messages in %d folders written in %v, synced in %v", n, st.Folders, wrote.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))

	proxy, err := faultproxy.New(d.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer proxy.Close()
	proxy.Latency(25 * time.Millisecond) // each way
	wan := cfg
	wan.Port = proxy.Port()
	// faultproxy sleeps before each chunk it copies, so a large answer
	// pays the latency once per chunk; delayProxy delays every chunk by
	// the same 25 ms without serialising them (and adds the TCP
	// handshake's round trip to a new connection), as a real link does.
	link, err := newDelayProxy(d.Addr(), 25*time.Millisecond)
	if err != nil {
		b.Fatal(err)
	}
	defer link.Close()
	pipelined := cfg
	pipelined.Port = link.Port()

	noop := func(b *testing.B, e *mailsync.Engine) {
		st, err := e.SyncOnce(ctx)
		if err != nil || st.Folders != 0 || st.Skipped < folders {
			b.Fatalf("no-op pass: %+v, %v", st, err)
		}
	}
	for _, link := range []struct {
		name string
		cfg  imapconn.Config
	}{{"loopback", cfg}, {"rtt50ms", wan}, {"rtt50ms-pipelined", pipelined}} {
		b.Run(link.name+"/kept-session", func(b *testing.B) {
			e := engine(link.cfg)
			defer e.Close()
			noop(b, e) // connects
			for b.Loop() {
				noop(b, e)
			}
		})
		b.Run(link.name+"/new-session", func(b *testing.B) {
			for b.Loop() {
				e := engine(link.cfg)
				noop(b, e)
				b.StopTimer() // LOGOUT is not part of the pass
				e.Close()
				b.StartTimer()
			}
		})
	}
}
