package smtpd

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

const (
	alicePass = "alice-pw-7c1e0b"
	bobPass   = "bob-pw-d41d8c"
	marker    = "BODY-MARKER-never-logged"
)

var testMsg = "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: hi\r\nMessage-ID: <t1@example.org>\r\n\r\n" +
	"Hello, café.\r\n.leading dot\r\n" + marker + "\r\n"

// fakeSubmitter stores what it is given in memory; it can fail, or wait
// at a gate after reading the message (a slow commit).
type fakeSubmitter struct {
	mu      sync.Mutex
	fail    error
	gate    chan struct{}
	started chan struct{} // receives once per Submit that has read its message
	got     []submitted
}

type submitted struct {
	account string
	env     hsync.Envelope
	data    string
	id      string
}

func (f *fakeSubmitter) Submit(ctx context.Context, account string, env hsync.Envelope, msg io.Reader) (string, error) {
	data, err := io.ReadAll(msg)
	if err != nil {
		return "", err
	}
	if f.started != nil {
		f.started <- struct{}{}
	}
	if f.gate != nil {
		select {
		case <-f.gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return "", f.fail
	}
	id := fmt.Sprintf("<%d@holdover.test>", len(f.got)+1)
	f.got = append(f.got, submitted{account, env, string(data), id})
	return id, nil
}

func (f *fakeSubmitter) messages() []submitted {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]submitted(nil), f.got...)
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func static(pw string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return pw, nil }
}

var logins = map[string]locallogin.Login{
	"alice": {Account: "work", Password: static(alicePass)},
	"bob":   {Account: "home", Password: static(bobPass)},
}

type server struct {
	*Server
	addr string
	logs *syncBuffer
	sub  *fakeSubmitter
	done chan error
}

// start serves on 127.0.0.1 (or on ln when given) and checks, at the end,
// that Serve returned nil and that no secret or body reached the logs.
func start(t *testing.T, opts Options, ln net.Listener) *server {
	t.Helper()
	logs := &syncBuffer{}
	opts.Log = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if opts.Auth == nil {
		opts.Auth = locallogin.Static(logins)
	}
	sub, _ := opts.Submitter.(*fakeSubmitter)
	if opts.Submitter == nil {
		sub = &fakeSubmitter{}
		opts.Submitter = sub
	}
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
	}
	s := &server{Server: New(opts), addr: ln.Addr().String(), logs: logs, sub: sub, done: make(chan error, 1)}
	go func() { s.done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-s.done; err != nil {
			t.Errorf("Serve: %v", err)
		}
		for _, secret := range []string{alicePass, bobPass, marker} {
			if strings.Contains(logs.String(), secret) {
				t.Errorf("logs contain %q:\n%s", secret, logs)
			}
		}
	})
	return s
}

func dial(t *testing.T, addr string) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func login(t *testing.T, addr, user, pass string) *smtp.Client {
	t.Helper()
	c := dial(t, addr)
	if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
		t.Fatalf("AUTH %s: %v", user, err)
	}
	return c
}

func wantReply(t *testing.T, err error, code int, ec smtp.EnhancedCode) {
	t.Helper()
	var se *smtp.SMTPError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want SMTP reply %d", err, code)
	}
	if se.Code != code || (ec != smtp.EnhancedCode{} && se.EnhancedCode != ec) {
		t.Fatalf("got reply %d %v %q, want %d %v", se.Code, se.EnhancedCode, se.Message, code, ec)
	}
}

var env = hsync.Envelope{From: "alice@example.org", To: []string{"bob@example.org", "carol@example.org"}}

func TestAcceptedMessageReachesTheSubmitterByteForByte(t *testing.T) {
	s := start(t, Options{}, nil)
	c := login(t, s.addr, "alice", alicePass)
	if err := c.SendMail(env.From, env.To, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
	got := s.sub.messages()
	if len(got) != 1 {
		t.Fatalf("submitted %d messages, want 1", len(got))
	}
	m := got[0]
	if m.account != "work" || m.env.From != env.From || strings.Join(m.env.To, ",") != strings.Join(env.To, ",") {
		t.Errorf("submitted %q %+v", m.account, m.env)
	}
	if m.data != testMsg {
		t.Errorf("body differs:\n got %q\nwant %q", m.data, testMsg)
	}
	logs := s.logs.String()
	for _, want := range []string{`"msg":"message accepted"`, `"account":"work"`, `"message_id":"<1@holdover.test>"`, fmt.Sprintf(`"size":%d`, len(testMsg)), `"rcpts":2`} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %s:\n%s", want, logs)
		}
	}
}

func TestTheReplyWaitsUntilSubmitReturned(t *testing.T) {
	sub := &fakeSubmitter{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	s := start(t, Options{Submitter: sub}, nil)
	c := login(t, s.addr, "alice", alicePass)
	sent := make(chan error, 1)
	go func() { sent <- c.SendMail(env.From, env.To, strings.NewReader(testMsg)) }()
	<-sub.started
	select {
	case err := <-sent:
		t.Fatalf("the client got its reply (%v) before Submit returned", err)
	case <-time.After(150 * time.Millisecond):
	}
	close(sub.gate)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
}

func TestMailBeforeAuthIs530(t *testing.T) {
	s := start(t, Options{}, nil)
	c := dial(t, s.addr)
	wantReply(t, c.Mail(env.From, nil), 530, smtp.EnhancedCode{5, 7, 0})
	if err := c.Rcpt("bob@example.org", nil); err == nil {
		t.Fatal("RCPT accepted without MAIL")
	}
}

func TestWrongLoginIs535AndLoggedByUsernameOnly(t *testing.T) {
	s := start(t, Options{}, nil)
	for _, l := range []struct{ user, pass string }{{"alice", bobPass}, {"mallory", alicePass}} {
		c := dial(t, s.addr)
		wantReply(t, c.Auth(sasl.NewPlainClient("", l.user, l.pass)), 535, smtp.EnhancedCode{5, 7, 8})
		wantReply(t, c.Mail(env.From, nil), 530, smtp.EnhancedCode{5, 7, 0})
		if !strings.Contains(s.logs.String(), `"level":"WARN","msg":"smtp login refused","username":"`+l.user+`"`) {
			t.Errorf("no warning naming %s:\n%s", l.user, s.logs)
		}
	}
	if n := len(s.sub.messages()); n != 0 {
		t.Fatalf("%d messages submitted", n)
	}
}

func TestAuthorizationIdentityMustBeTheUser(t *testing.T) {
	s := start(t, Options{}, nil)
	c := dial(t, s.addr)
	wantReply(t, c.Auth(sasl.NewPlainClient("bob", "alice", alicePass)), 535, smtp.EnhancedCode{5, 7, 8})
}

func TestPasswordSourceFailureIsATemporaryAuthFailure(t *testing.T) {
	broken := locallogin.Static(map[string]locallogin.Login{"alice": {Account: "work", Password: func(context.Context) (string, error) {
		return "", errors.New("password_command exited 1")
	}}})
	s := start(t, Options{Auth: broken}, nil)
	c := dial(t, s.addr)
	wantReply(t, c.Auth(sasl.NewPlainClient("", "alice", alicePass)), 454, smtp.EnhancedCode{4, 7, 0})
}

func TestSubmitFailureIs451NeverAcceptance(t *testing.T) {
	sub := &fakeSubmitter{fail: errors.New("database is locked")}
	s := start(t, Options{Submitter: sub}, nil)
	c := login(t, s.addr, "alice", alicePass)
	err := c.SendMail(env.From, env.To, strings.NewReader(testMsg))
	wantReply(t, err, 451, smtp.EnhancedCode{4, 3, 0})
	var se *smtp.SMTPError
	if errors.As(err, &se); !se.Temporary() {
		t.Fatal("the client should see a temporary failure")
	}
	if strings.Contains(s.logs.String(), "message accepted") {
		t.Fatal("a failed submit was logged as accepted")
	}
	// The session goes on: once the store is back, the same client sends.
	sub.mu.Lock()
	sub.fail = nil
	sub.mu.Unlock()
	if err := c.SendMail(env.From, env.To, strings.NewReader(testMsg)); err != nil {
		t.Fatal(err)
	}
}

func TestOversizeMessageIs552AndNotSubmitted(t *testing.T) {
	s := start(t, Options{MaxMessageBytes: 1024}, nil)
	c := login(t, s.addr, "alice", alicePass)
	big := testMsg + strings.Repeat("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\r\n", 64)
	wantReply(t, c.SendMail(env.From, env.To, strings.NewReader(big)), 552, smtp.EnhancedCode{5, 3, 4})
	// Announced with SIZE, it is refused at MAIL.
	wantReply(t, c.Mail(env.From, &smtp.MailOptions{Size: int64(len(big))}), 552, smtp.EnhancedCode{5, 3, 4})
	if n := len(s.sub.messages()); n != 0 {
		t.Fatalf("%d messages submitted", n)
	}
	if err := c.SendMail(env.From, env.To, strings.NewReader(testMsg)); err != nil {
		t.Fatalf("a message within the limit: %v", err)
	}
}

func TestEnvelopeRules(t *testing.T) {
	s := start(t, Options{}, nil)
	c := login(t, s.addr, "alice", alicePass)
	wantReply(t, c.Mail("", nil), 501, smtp.EnhancedCode{5, 1, 7}) // a sender is required
	if err := c.Mail(env.From, nil); err != nil {
		t.Fatal(err)
	}
	_, err := c.Data() // no recipient: go-smtp answers 502 5.5.1 before asking us
	var se *smtp.SMTPError
	if !errors.As(err, &se) || se.Code/100 != 5 {
		t.Fatalf("DATA without RCPT: %v, want a permanent refusal", err)
	}
	if n := len(s.sub.messages()); n != 0 {
		t.Fatalf("%d messages submitted", n)
	}
}

func TestConcurrentSessionsKeepTheirAccounts(t *testing.T) {
	s := start(t, Options{}, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			user, pass := "alice", alicePass
			if i%2 == 1 {
				user, pass = "bob", bobPass
			}
			c, err := smtp.Dial(s.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			if err := c.Auth(sasl.NewPlainClient("", user, pass)); err != nil {
				errs <- err
				return
			}
			for j := range 2 {
				body := fmt.Sprintf("Subject: %s %d %d\r\n\r\nbody\r\n", user, i, j)
				if err := c.SendMail(user+"@example.org", []string{"x@example.org"}, strings.NewReader(body)); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := s.sub.messages()
	if len(got) != 40 {
		t.Fatalf("submitted %d messages, want 40", len(got))
	}
	for _, m := range got {
		user := strings.Fields(m.data)[1]
		if want := map[string]string{"alice": "work", "bob": "home"}[user]; m.account != want || m.env.From != user+"@example.org" {
			t.Errorf("message of %s went to account %q from %q", user, m.account, m.env.From)
		}
	}
}

func TestShutdownLetsTheTransactionUnderWayFinish(t *testing.T) {
	sub := &fakeSubmitter{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	s := start(t, Options{Submitter: sub}, nil)
	busy := login(t, s.addr, "alice", alicePass)
	idle := login(t, s.addr, "bob", bobPass)
	sent := make(chan error, 1)
	go func() { sent <- busy.SendMail(env.From, env.To, strings.NewReader(testMsg)) }()
	<-sub.started

	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		stopped <- s.Shutdown(ctx)
	}()
	// The listener closes at once.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the listener still accepts after Shutdown")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// No new transaction starts, the one under way goes on.
	wantReply(t, idle.Mail("bob@example.org", nil), 421, smtp.EnhancedCode{4, 3, 2})
	select {
	case err := <-stopped:
		t.Fatalf("Shutdown returned (%v) during a transaction", err)
	case <-time.After(150 * time.Millisecond):
	}
	close(sub.gate)
	if err := <-sent; err != nil {
		t.Fatalf("the message under way: %v", err)
	}
	if err := <-stopped; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := len(sub.messages()); n != 1 {
		t.Fatalf("submitted %d, want 1", n)
	}
	if err := idle.Noop(); err == nil {
		t.Fatal("the idle connection is still open after Shutdown")
	}
}

func TestShutdownDeadlineCancelsSubmitAndNeverAnswers250(t *testing.T) {
	sub := &fakeSubmitter{gate: make(chan struct{}), started: make(chan struct{}, 1)}
	s := start(t, Options{Submitter: sub}, nil)
	c := login(t, s.addr, "alice", alicePass)
	sent := make(chan error, 1)
	go func() { sent <- c.SendMail(env.From, env.To, strings.NewReader(testMsg)) }()
	<-sub.started
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown = %v, want the deadline", err)
	}
	if err := <-sent; err == nil {
		t.Fatal("the client was told the message was accepted")
	}
	if n := len(sub.messages()); n != 0 {
		t.Fatalf("submitted %d", n)
	}
}

// farListener is a loopback listener that claims a public address, to
// check the plaintext-AUTH rule without a second network interface.
type farListener struct{ net.Listener }

func (farListener) Addr() net.Addr { return &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 587} }

func TestPlaintextAuthOnlyOnLoopback(t *testing.T) {
	cert, pool := testenv.SelfSigned(t)
	listen := func() (net.Listener, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		return farListener{ln}, ln.Addr().String()
	}

	t.Run("without TLS every login is refused", func(t *testing.T) {
		ln, addr := listen()
		start(t, Options{}, ln)
		c := dial(t, addr)
		if ok, _ := c.Extension("AUTH"); ok {
			t.Error("AUTH offered in plaintext on a public address")
		}
		if err := c.Auth(sasl.NewPlainClient("", "alice", alicePass)); err == nil {
			t.Fatal("a plaintext login succeeded on a public address")
		}
		wantReply(t, c.Mail(env.From, nil), 530, smtp.EnhancedCode{5, 7, 0})
	})

	t.Run("after STARTTLS the login works", func(t *testing.T) {
		ln, addr := listen()
		s := start(t, Options{TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}}}, ln)
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c, err := smtp.NewClientStartTLS(conn, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "alice", alicePass)); err != nil {
			t.Fatal(err)
		}
		if err := c.SendMail(env.From, env.To, strings.NewReader(testMsg)); err != nil {
			t.Fatal(err)
		}
		if n := len(s.sub.messages()); n != 1 {
			t.Fatalf("submitted %d", n)
		}
	})
}
