package imapd_test

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
	"github.com/holdover/holdover/sync/outbox"
)

const (
	localUser = "alice"
	localPass = "local-secret"
)

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.EnsureAccounts(context.Background(), []string{"work"}); err != nil {
		t.Fatal(err)
	}
	return db
}

// startEndpoint serves db's account "work" on a loopback port and
// returns its address.
func startEndpoint(t testing.TB, db *store.DB, failDelay time.Duration) string {
	t.Helper()
	return startEndpointWith(t, imapd.Options{DB: db, FailDelay: failDelay})
}

// startEndpointWith is startEndpoint with more options; the login and
// the log are filled in.
func startEndpointWith(t testing.TB, opts imapd.Options) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pw := func(context.Context) (string, error) { return localPass, nil }
	opts.Auth = locallogin.Static(map[string]locallogin.Login{localUser: {Account: "work", Password: pw}})
	opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := imapd.New(opts)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	t.Cleanup(func() {
		srv.Close()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return ln.Addr().String()
}

// login opens a client session on the endpoint.
func login(t testing.TB, addr string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(localUser, localPass).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// mirror is a Dovecot, a store and the mail engine that fills it.
type mirror struct {
	d   *testenv.Dovecot
	c   *imapclient.Client // on Dovecot, for seeding and comparing
	db  *store.DB
	eng *mailsync.Engine
	cfg imapconn.Config
}

func newMirror(t *testing.T) *mirror {
	t.Helper()
	d := testenv.StartDovecot(t)
	m := &mirror{d: d, c: d.Client(t), db: openStore(t)}
	pw := d.Password
	cfg := imapconn.Config{Host: d.Host, Port: d.Port, TLS: "none", Username: d.User,
		Password: func(context.Context) (string, error) { return pw, nil }}
	m.cfg = cfg
	m.eng = mailsync.New(mailsync.Options{
		Account: "work", DB: m.db, SpoolDir: t.TempDir(),
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Dial: func(ctx context.Context) (hsync.MailRemote, error) {
			return imapconn.Dial(ctx, cfg)
		},
	})
	t.Cleanup(func() { m.eng.Close() })
	return m
}

func (m *mirror) sync(t *testing.T) mailsync.Stats {
	t.Helper()
	st, err := m.eng.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return st
}

// replay sends the queued local changes to Dovecot, as the daemon's
// outbox worker does, and returns when none is left.
func (m *mirror) replay(t *testing.T) {
	t.Helper()
	w := outbox.New(outbox.Worker{DB: m.db, Account: "work", Service: "imap", Kinds: outbox.ServiceKinds["imap"],
		Exec: &outbox.IMAPExecutor{DB: m.db, Account: "work", Dial: func(ctx context.Context) (hsync.MailWriter, error) {
			return imapconn.Dial(ctx, m.cfg)
		}},
		Health: &hsync.Health{DB: m.db}})
	if err := w.Drain(context.Background()); err != nil {
		t.Fatalf("replay: %v", err)
	}
}

func (m *mirror) appendMsg(t *testing.T, folder string, raw string, date time.Time, flags ...imap.Flag) {
	t.Helper()
	testenv.Append(t, m.c, folder, []byte(raw), date, flags...)
}

// byMessageID fetches every message of a folder through c, keyed by
// Message-ID.
func byMessageID(t *testing.T, c *imapclient.Client, folder string, opts *imap.FetchOptions) map[string]*imapclient.FetchMessageBuffer {
	t.Helper()
	if _, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select %s: %v", folder, err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	o := *opts
	o.Envelope, o.UID = true, true
	msgs, err := c.Fetch(all, &o).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", folder, err)
	}
	out := map[string]*imapclient.FetchMessageBuffer{}
	for _, msg := range msgs {
		out[msg.Envelope.MessageID] = msg
	}
	return out
}

func message(id, subject, body string) string {
	return "From: Alice Example <alice@example.com>\r\nTo: bob@example.com\r\nMessage-ID: <" + id + ">\r\n" +
		"Subject: " + subject + "\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
}

func multipart(id string) string {
	return strings.Join([]string{
		"From: Carol <carol@example.com>",
		"To: bob@example.com",
		"Message-ID: <" + id + ">",
		"Subject: with attachment",
		"Date: Tue, 24 Nov 2026 11:00:00 +0000",
		"MIME-Version: 1.0",
		`Content-Type: multipart/mixed; boundary="b1"`,
		"",
		"--b1",
		"Content-Type: text/plain; charset=utf-8",
		"",
		"see the attachment",
		"--b1",
		`Content-Type: application/octet-stream; name="a.bin"`,
		"Content-Transfer-Encoding: base64",
		`Content-Disposition: attachment; filename="a.bin"`,
		"",
		"AAECAwQFBgcICQ==",
		"--b1--",
		"",
	}, "\r\n")
}

// pullMirror is the mailbox the real clients' pull tests read: a plain
// and a multipart message with flags in INBOX, one in Archive and one in
// a nested folder (Lists/Go), mirrored from Dovecot.
func pullMirror(t *testing.T) *mirror {
	t.Helper()
	m := newMirror(t)
	m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0, imap.FlagSeen)
	m.appendMsg(t, "INBOX", multipart("two@x"), t0.Add(time.Hour), imap.FlagFlagged)
	m.appendMsg(t, "Archive", message("old@x", "archived", "old"), t0.Add(-time.Hour))
	if err := m.c.Create("Lists/Go", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	m.appendMsg(t, "Lists/Go", message("go@x", "go", "gophers"), t0)
	m.sync(t)
	return m
}
