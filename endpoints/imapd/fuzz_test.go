package imapd_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// pipeListener hands the server one end of a net.Pipe per dial: a
// session costs no socket, so the fuzzer can open thousands. It claims a
// loopback address (plaintext LOGIN allowed).
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeListener() *pipeListener {
	return &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 143} }

func (l *pipeListener) dial(t testing.TB) net.Conn {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
	case <-time.After(5 * time.Second):
		t.Fatal("the server accepts no new session")
	}
	return client
}

// logRecorder keeps what the server logs, to find recovered panics
// (imapserver recovers a panic in a session and logs it).
type logRecorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (r *logRecorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.Write(p)
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buf.String()
}

// seedStore stores n messages in INBOX (every fifth a multipart one) and
// one in Archive, with their index rows, as the mail engine would.
func seedStore(t testing.TB, db *store.DB, n int) {
	t.Helper()
	ctx := context.Background()
	err := db.Write(ctx, func(tx *store.Tx) error {
		inbox, err := tx.UpsertMailFolder(ctx, "work", "INBOX", "/", "")
		if err != nil {
			return err
		}
		archive, err := tx.UpsertMailFolder(ctx, "work", "Archive", "/", `\Archive`)
		if err != nil {
			return err
		}
		for i := 0; i < n+1; i++ {
			id := fmt.Sprintf("m%d@x", i)
			raw := message(id, fmt.Sprintf("subject %d", i), fmt.Sprintf("body of message %d, needle%d", i, i%3))
			if i%5 == 4 {
				raw = multipart(id)
			}
			bid, err := tx.InsertMailBody(ctx, "work", id, int64(len(raw)), strings.NewReader(raw))
			if err != nil {
				return err
			}
			if err := tx.IndexMailBody(ctx, bid, fmt.Sprintf("subject %d", i), "alice@example.com", "bob@example.com", raw); err != nil {
				return err
			}
			folder, uid := inbox, uint32(i+1)
			if i == n {
				folder, uid = archive, 1
			}
			if _, err := tx.InsertMailMessage(ctx, store.MailMessage{FolderID: folder, UID: uid, BodyID: bid, MessageID: id,
				Size: int64(len(raw)), InternalDate: t0.Add(time.Duration(i) * time.Hour), Flags: []string{`\Seen`}[:i%2]}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// fuzzEndpoint is an endpoint over a seeded store, with flag changes on
// (through the outbox, as the daemon has it), served on a pipeListener.
type fuzzEndpoint struct {
	ln   *pipeListener
	logs *logRecorder
}

func newFuzzEndpoint(t testing.TB) *fuzzEndpoint {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.EnsureAccounts(context.Background(), []string{"work"}); err != nil {
		t.Fatal(err)
	}
	seedStore(t, db, 12)
	e := &fuzzEndpoint{ln: newPipeListener(), logs: &logRecorder{}}
	pw := func(context.Context) (string, error) { return localPass, nil }
	srv := imapd.New(imapd.Options{DB: db, FailDelay: time.Millisecond,
		Flagger: &outbox.Local{DB: db, SpoolDir: t.TempDir()}, NoChange: outbox.ErrNoChange,
		Auth: locallogin.Static(map[string]locallogin.Login{localUser: {Account: "work", Password: pw}}),
		Log:  slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	done := make(chan error, 1)
	go func() { done <- srv.Serve(e.ln) }()
	t.Cleanup(func() {
		srv.Close()
		e.ln.Close()
		<-done
	})
	return e
}

// session plays input as one client session, followed by a LOGOUT: it
// writes everything (the server must keep reading: a write that blocks
// for 5 s is a hang), waits up to a second for the server to end the
// session (an input that leaves a literal or an IDLE open swallows the
// LOGOUT), hangs up, and returns what the server answered.
func (e *fuzzEndpoint) session(t testing.TB, input []byte) []byte {
	t.Helper()
	conn := e.dial(t)
	defer conn.Close()
	var out bytes.Buffer
	drained := make(chan struct{})
	go func() {
		io.Copy(&out, conn)
		close(drained)
	}()
	conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := conn.Write(append(append([]byte(nil), input...), "\r\nzz LOGOUT\r\n"...))
	if errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server stopped reading the session (5 s) on input %q", input)
	}
	select {
	case <-drained:
	case <-time.After(time.Second):
	}
	conn.Close()
	<-drained
	return out.Bytes()
}

func (e *fuzzEndpoint) dial(t testing.TB) net.Conn { return e.ln.dial(t) }

// answers checks that a fresh session logs in, selects INBOX and reads
// its messages within 5 s.
func (e *fuzzEndpoint) answers(t testing.TB) {
	t.Helper()
	conn := e.dial(t)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	// A pipe has no buffer: the commands go out while the answers are
	// read.
	go fmt.Fprintf(conn, "a LOGIN %s %s\r\nb EXAMINE INBOX\r\nc UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])\r\nd LOGOUT\r\n", localUser, localPass)
	r := bufio.NewReader(conn)
	var got []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("a new session after the fuzz input: %v; it read:\n%s", err, strings.Join(got, ""))
		}
		got = append(got, line)
		if strings.HasPrefix(line, "d OK") {
			break
		}
	}
	all := strings.Join(got, "")
	// Only the answers are checked, not what they hold: an input may
	// have changed flags (or, with writes, moved messages away).
	for _, want := range []string{"a OK", "b OK", "c OK"} {
		if !strings.Contains(all, want) {
			t.Fatalf("a new session after the fuzz input: no %q in\n%s", want, all)
		}
	}
}

// login is the line the seeds start with; the fuzzer keeps it in most
// inputs, so they reach the authenticated commands.
var loginLine = "a LOGIN " + localUser + " " + localPass + "\r\n"

// FuzzSession feeds arbitrary bytes as a client session to the endpoint
// (a real store behind it, flag changes on): whatever comes, the server
// never panics (imapserver would recover it and log it), never stops
// reading a session, and still serves the next client.
func FuzzSession(f *testing.F) {
	for _, s := range []string{
		loginLine + "b SELECT INBOX\r\nc FETCH 1:* (FLAGS ENVELOPE BODYSTRUCTURE)\r\nd LOGOUT\r\n",
		loginLine + "b SELECT INBOX\r\nc UID FETCH 1:* (BODY.PEEK[1] BODY.PEEK[2.MIME] BODY.PEEK[HEADER.FIELDS (FROM)] BODY[]<3.10>)\r\n",
		loginLine + "b SELECT INBOX\r\nc UID FETCH 99999:100000,4294967295 FLAGS\r\nd FETCH 9999 FLAGS\r\ne FETCH *:1 UID\r\n",
		loginLine + "b SELECT INBOX\r\nc UID SEARCH TEXT needle1 OR FLAGGED NOT SEEN\r\nd SEARCH TEXT \"\\\"\" BODY * SUBJECT NEAR(a\r\n",
		loginLine + "b SELECT INBOX\r\nc SEARCH CHARSET KOI8-R TEXT x\r\nd SEARCH LARGER 10 SMALLER 100000 SINCE 1-Jan-2020 UID 2:*\r\n",
		loginLine + "b SELECT INBOX\r\nc STORE 1:3 +FLAGS (\\Flagged $Label1)\r\nd UID STORE 2 FLAGS (\\Seen)\r\ne FETCH 1 BODY[TEXT]\r\n",
		loginLine + "b APPEND INBOX {100000000}\r\nc NOOP\r\n",
		loginLine + "b APPEND INBOX (\\Seen) {5+}\r\nhello\r\nc APPEND INBOX {3}\r\n",
		loginLine + "b LIST \"\" *\r\nc LIST (SPECIAL-USE) \"\" * RETURN (STATUS (MESSAGES UNSEEN UIDNEXT UIDVALIDITY))\r\nd STATUS Archive (MESSAGES)\r\n",
		loginLine + "b SELECT INBOX\r\nc IDLE\r\nDONE\r\nd UNSELECT\r\ne NAMESPACE\r\n",
		loginLine + "b FROB\r\nc SELECT {5}\r\nINB\r\nd LOGIN {abc}\r\n",
		"a LOGIN " + localUser + " wrong\r\nb CAPABILITY\r\nc AUTHENTICATE PLAIN\r\n=\r\n",
		"* \x00\xff\r\n\r\n{}\r\n",
	} {
		f.Add([]byte(s))
	}
	e := newFuzzEndpoint(f)
	f.Fuzz(func(t *testing.T, input []byte) {
		e.session(t, input)
		e.answers(t)
		if logs := e.logs.String(); strings.Contains(logs, "panic") {
			t.Fatalf("the server panicked on input %q:\n%s", input, logs)
		}
	})
}
