package mailsync_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	gosync "sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
)

// server is a Dovecot with a plain IMAP client for seeding and checking.
type server struct {
	*testenv.Dovecot
	c *imapclient.Client
}

func startServer(t *testing.T) *server {
	t.Helper()
	d := testenv.StartDovecot(t)
	return &server{Dovecot: d, c: d.Client(t)}
}

func (s *server) config() imapconn.Config {
	pw := s.Password
	return imapconn.Config{Host: s.Host, Port: s.Port, TLS: "none", Username: s.User,
		Password: func(context.Context) (string, error) { return pw, nil }}
}

func (s *server) create(t *testing.T, name string) {
	t.Helper()
	if err := s.c.Create(name, nil).Wait(); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
}

// appendMsg stores a raw message and returns its UID.
func (s *server) appendMsg(t *testing.T, folder string, raw []byte, date time.Time, flags ...imap.Flag) uint32 {
	t.Helper()
	return testenv.Append(t, s.c, folder, raw, date, flags...)
}

type serverMsg struct {
	uid   uint32
	flags string
	body  []byte
}

// contents reads a folder's messages straight from the server.
func (s *server) contents(t *testing.T, folder string) map[uint32]serverMsg {
	t.Helper()
	if _, err := s.c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select %s: %v", folder, err)
	}
	var all imap.UIDSet
	all.AddRange(1, 0)
	section := &imap.FetchItemBodySection{Peek: true}
	msgs, err := s.c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, BodySection: []*imap.FetchItemBodySection{section}}).Collect()
	if err != nil {
		t.Fatalf("fetch %s: %v", folder, err)
	}
	out := map[uint32]serverMsg{}
	for _, m := range msgs {
		var fl []string
		for _, f := range m.Flags {
			fl = append(fl, string(f))
		}
		out[uint32(m.UID)] = serverMsg{uid: uint32(m.UID), flags: store.JoinFlags(fl), body: m.FindBodySection(section)}
	}
	if err := s.c.Unselect().Wait(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *server) folders(t *testing.T) []string {
	t.Helper()
	list, err := s.c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range list {
		names = append(names, l.Mailbox)
	}
	sort.Strings(names)
	return names
}

// countingRemote counts what the engine asks of the server and can fail
// on demand: a decorator, the wrapped connector is untouched. Every
// session of an engine (a download may use several) shares one counter.
type countingRemote struct {
	hsync.MailRemote
	c *counters
}

// counters are shared by an engine's sessions. Tests read and set the
// fields between passes; during one, sessions use them under mu.
type counters struct {
	mu         gosync.Mutex
	dials      int
	bodies     int
	failBodies int // fail FetchBodies after this many bodies (0: never)
	// beforeBodies, when set, is called before each FetchBodies with its
	// UIDs; an error it returns is FetchBodies' error.
	beforeBodies func(uids []uint32) error
	beforeUIDs   func() // called before each full UID listing, when set
	selects      int    // SELECT commands
	lists        int    // LIST commands
	statuses     int    // FolderStates calls (one round trip each)
}

func (c *countingRemote) count(n *int) {
	c.c.mu.Lock()
	*n++
	c.c.mu.Unlock()
}

func (c *countingRemote) Select(ctx context.Context, folder string) (hsync.FolderState, error) {
	c.count(&c.c.selects)
	return c.MailRemote.Select(ctx, folder)
}

// SelectChanges passes the pipelined select through, so the engine's
// tests take the path production does (it counts as a SELECT).
func (c *countingRemote) SelectChanges(ctx context.Context, folder string, from uint32, since uint64) (hsync.FolderState, []uint32, []hsync.FlagChange, error) {
	c.count(&c.c.selects)
	return c.MailRemote.(hsync.MailChangeLister).SelectChanges(ctx, folder, from, since)
}

func (c *countingRemote) ListFolders(ctx context.Context) ([]hsync.RemoteFolder, error) {
	c.count(&c.c.lists)
	return c.MailRemote.ListFolders(ctx)
}

func (c *countingRemote) FolderStates(ctx context.Context, folders []string) (map[string]hsync.FolderState, error) {
	c.count(&c.c.statuses)
	return c.MailRemote.FolderStates(ctx, folders)
}

// resetCounts zeroes the command counters (not the body count).
func (c *counters) resetCounts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.selects, c.lists, c.statuses = 0, 0, 0
}

func (c *countingRemote) UIDs(ctx context.Context) ([]uint32, error) {
	c.c.mu.Lock()
	before := c.c.beforeUIDs
	c.c.mu.Unlock()
	if before != nil {
		before()
	}
	return c.MailRemote.UIDs(ctx)
}

var errInjected = hsync.Errorf(hsync.Transient, "injected", fmt.Errorf("connection reset by fault injection"))

func (c *countingRemote) FetchBodies(ctx context.Context, uids []uint32, fn func(uint32, int64, io.Reader) error) error {
	c.c.mu.Lock()
	before := c.c.beforeBodies
	c.c.mu.Unlock()
	if before != nil {
		if err := before(uids); err != nil {
			return err
		}
	}
	return c.MailRemote.FetchBodies(ctx, uids, func(uid uint32, size int64, r io.Reader) error {
		c.c.mu.Lock()
		if c.c.failBodies > 0 && c.c.bodies >= c.c.failBodies {
			c.c.mu.Unlock()
			return errInjected
		}
		c.c.bodies++
		c.c.mu.Unlock()
		return fn(uid, size, r)
	})
}

type fixture struct {
	srv    *server // nil when the server is not Dovecot
	cfg    imapconn.Config
	db     *store.DB
	eng    *mailsync.Engine
	remote *counters
}

func newFixture(t *testing.T, srv *server) *fixture {
	t.Helper()
	f := newFixtureCfg(t, srv.config())
	f.srv = srv
	return f
}

func newFixtureCfg(t *testing.T, cfg imapconn.Config) *fixture {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(context.Background(), filepath.Join(dir, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.EnsureAccounts(context.Background(), []string{"work"}); err != nil {
		t.Fatal(err)
	}
	f := &fixture{cfg: cfg, db: db}
	f.eng = f.engine(t, 0)
	return f
}

// engine builds an engine whose sessions go through a countingRemote.
func (f *fixture) engine(t *testing.T, batch int) *mailsync.Engine {
	return f.engineWith(t, mailsync.Options{BatchMessages: batch}, nil)
}

// engineWith is engine with more options; refuse, when set, is asked
// before each dial (with the count of dials so far) and may refuse it.
func (f *fixture) engineWith(t *testing.T, opts mailsync.Options, refuse func(n int) error) *mailsync.Engine {
	f.remote = &counters{}
	cfg := f.cfg
	opts.Account, opts.DB, opts.SpoolDir = "work", f.db, t.TempDir()
	opts.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	opts.Dial = func(ctx context.Context) (hsync.MailRemote, error) {
		f.remote.mu.Lock()
		n := f.remote.dials
		f.remote.dials++
		f.remote.mu.Unlock()
		if refuse != nil {
			if err := refuse(n); err != nil {
				return nil, err
			}
		}
		s, err := imapconn.Dial(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return &countingRemote{MailRemote: s, c: f.remote}, nil
	}
	eng := mailsync.New(opts)
	t.Cleanup(func() { eng.Close() })
	return eng
}

func (f *fixture) sync(t *testing.T) mailsync.Stats {
	t.Helper()
	st, err := f.eng.SyncOnce(context.Background())
	if err != nil {
		t.Fatalf("sync: %v", err)
	}
	return st
}

// assertMirror checks every folder, message, flag set and body byte
// against the server.
func (f *fixture) assertMirror(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	local, err := f.db.MailFolders(ctx, "work")
	if err != nil {
		t.Fatal(err)
	}
	var localNames []string
	for _, lf := range local {
		localNames = append(localNames, lf.Name)
	}
	sort.Strings(localNames)
	if got, want := strings.Join(localNames, "|"), strings.Join(f.srv.folders(t), "|"); got != want {
		t.Fatalf("folders:\n local  %s\n server %s", got, want)
	}
	for _, lf := range local {
		want := f.srv.contents(t, lf.Name)
		msgs, err := f.db.ListMailMessages(ctx, store.MailFilter{FolderID: lf.ID})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != len(want) {
			t.Errorf("%s: %d messages stored, server has %d", lf.Name, len(msgs), len(want))
		}
		for _, m := range msgs {
			w, ok := want[m.UID]
			if !ok {
				t.Errorf("%s: uid %d stored but not on the server", lf.Name, m.UID)
				continue
			}
			if got := store.JoinFlags(m.Flags); got != w.flags {
				t.Errorf("%s uid %d: flags %q, server %q", lf.Name, m.UID, got, w.flags)
			}
			r, err := f.db.OpenMailBody(ctx, m.BodyID)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, w.body) {
				t.Errorf("%s uid %d: body differs (%d bytes stored, %d on server)", lf.Name, m.UID, len(body), len(w.body))
			}
		}
	}
	rep, err := f.db.Check(ctx)
	if err != nil || !rep.OK {
		t.Fatalf("integrity: %+v %v", rep.Integrity, err)
	}
}

// msg builds a simple RFC 5322 message.
func msg(id, subject, body string) []byte {
	var b strings.Builder
	b.WriteString("From: Alice Example <alice@example.com>\r\nTo: bob@example.com\r\n")
	if id != "" {
		b.WriteString("Message-ID: <" + id + ">\r\n")
	}
	b.WriteString("Subject: " + subject + "\r\nDate: Tue, 24 Nov 2026 10:00:00 +0000\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n")
	return []byte(b.String())
}

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
