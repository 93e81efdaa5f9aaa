package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

const (
	testUser = "alice"
	testPass = "pw-correct-horse-9f3a"
)

// testMsg has what a relay must not touch: leading dots (dot-stuffing),
// 8-bit text, an empty line and CRLF endings throughout.
const testMsg = "From: Alice <alice@example.org>\r\n" +
	"To: bob@example.org, carol@example.org\r\n" +
	"Subject: =?UTF-8?Q?caf=C3=A9?=\r\n" +
	"Message-ID: <m1@example.org>\r\n" +
	"\r\n" +
	"Hello Bob, café ☕.\r\n" +
	".a line with a leading dot\r\n" +
	"..and two\r\n" +
	".\r\n" +
	"\r\n" +
	"bye\r\n"

var env = hsync.Envelope{From: "alice@example.org", To: []string{"bob@example.org", "carol@example.org"}}

func staticPassword(pw string) func(context.Context) (string, error) {
	return func(context.Context) (string, error) { return pw, nil }
}

func config(port int) Config {
	return Config{
		Host: "127.0.0.1", Port: port, TLS: "none",
		Username: testUser, Password: staticPassword(testPass),
		Timeout: 5 * time.Second,
	}
}

func newSink() *sink { return &sink{user: testUser, pass: testPass} }

func dial(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(c *Client, e hsync.Envelope, msg string) error {
	return c.Send(context.Background(), e, strings.NewReader(msg), nil)
}

func wantKind(t *testing.T, err error, k hsync.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want a %v one", k)
	}
	if got := hsync.KindOf(err); got != k {
		t.Fatalf("kind = %v, want %v (err: %v)", got, k, err)
	}
	if strings.Contains(err.Error(), testPass) {
		t.Fatalf("the password leaked into an error: %v", err)
	}
}

func TestSendDeliversTheMessageByteForByteWithItsEnvelope(t *testing.T) {
	sk := newSink()
	c := dial(t, config(sk.start(t, plainSink, nil)))
	for i := range 2 { // the session is reusable
		if err := send(c, env, testMsg); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	msgs := sk.messages()
	if len(msgs) != 2 {
		t.Fatalf("sink got %d messages, want 2", len(msgs))
	}
	for _, m := range msgs {
		if string(m.data) != testMsg {
			t.Errorf("body differs:\n got %q\nwant %q", m.data, testMsg)
		}
		if m.from != env.From || strings.Join(m.to, ",") != strings.Join(env.To, ",") || m.user != testUser {
			t.Errorf("envelope = from %q to %q as %q", m.from, m.to, m.user)
		}
	}
}

func TestServerRepliesAreClassified(t *testing.T) {
	reply := func(code int, ec smtp.EnhancedCode, msg string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: code, EnhancedCode: ec, Message: msg}
	}
	tests := []struct {
		name  string
		set   func(*sink)
		kind  hsync.Kind
		wants []string // in the error text
	}{
		{"550 to one recipient is permanent, names it, and nobody gets the message",
			func(s *sink) {
				s.rcptReply = map[string]*smtp.SMTPError{"carol@example.org": reply(550, smtp.EnhancedCode{5, 1, 1}, "<carol@example.org>: user unknown")}
			},
			hsync.Permanent, []string{"RCPT TO:<carol@example.org>: 550 5.1.1 <carol@example.org>: user unknown"}},
		{"every refused recipient is named",
			func(s *sink) {
				s.rcptReply = map[string]*smtp.SMTPError{
					"bob@example.org":   reply(451, smtp.EnhancedCode{4, 7, 1}, "greylisted, try again"),
					"carol@example.org": reply(550, smtp.EnhancedCode{5, 1, 1}, "no such user"),
				}
			},
			hsync.Permanent, []string{"bob@example.org>: 451 4.7.1 greylisted", "carol@example.org>: 550 5.1.1 no such user"}},
		{"451 greylisting a recipient is transient",
			func(s *sink) {
				s.rcptReply = map[string]*smtp.SMTPError{"bob@example.org": reply(451, smtp.EnhancedCode{4, 7, 1}, "greylisted")}
			},
			hsync.Transient, []string{"451 4.7.1 greylisted"}},
		{"451 to MAIL FROM is transient",
			func(s *sink) { s.mailReply = reply(451, smtp.EnhancedCode{4, 3, 0}, "local error") },
			hsync.Transient, []string{"MAIL FROM:<alice@example.org>: 451 4.3.0 local error"}},
		{"553 to MAIL FROM (sender not owned) is permanent",
			func(s *sink) { s.mailReply = reply(553, smtp.EnhancedCode{5, 7, 1}, "sender address rejected") },
			hsync.Permanent, []string{"553 5.7.1 sender address rejected"}},
		{"530 to MAIL FROM (login needed) is auth",
			func(s *sink) { s.mailReply = reply(530, smtp.EnhancedCode{5, 7, 0}, "authentication required") },
			hsync.Auth, []string{"530 5.7.0"}},
		{"451 after the final dot is transient",
			func(s *sink) { s.dataReply = reply(451, smtp.EnhancedCode{4, 3, 0}, "queue full") },
			hsync.Transient, []string{"end of DATA: 451 4.3.0 queue full"}},
		{"554 after the final dot (content refused) is permanent",
			func(s *sink) { s.dataReply = reply(554, smtp.EnhancedCode{5, 6, 0}, "message refused as spam") },
			hsync.Permanent, []string{"end of DATA: 554 5.6.0 message refused as spam"}},
		{"552 after the final dot (too big) is permanent",
			func(s *sink) { s.dataReply = reply(552, smtp.EnhancedCode{5, 3, 4}, "message too big") },
			hsync.Permanent, []string{"552 5.3.4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk := newSink()
			c := dial(t, config(sk.start(t, plainSink, nil)))
			sk.set(tt.set)
			err := send(c, env, testMsg)
			wantKind(t, err, tt.kind)
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			var se *smtp.SMTPError
			if !errors.As(err, &se) {
				t.Errorf("error does not unwrap to *smtp.SMTPError: %v", err)
			}
			if n := len(sk.messages()); n != 0 {
				t.Fatalf("sink stored %d messages after a refusal", n)
			}
			// The session was reset and still works.
			sk.set(func(s *sink) { s.mailReply, s.rcptReply, s.dataReply = nil, nil, nil })
			if err := send(c, env, testMsg); err != nil {
				t.Fatalf("send after the refusal: %v", err)
			}
			if n := len(sk.messages()); n != 1 {
				t.Fatalf("sink has %d messages, want 1", n)
			}
		})
	}
}

func TestClassify(t *testing.T) {
	r := func(code int, ec ...int) error {
		e := &smtp.SMTPError{Code: code, Message: "x"}
		if len(ec) == 3 {
			e.EnhancedCode = smtp.EnhancedCode{ec[0], ec[1], ec[2]}
		}
		return e
	}
	certErr := &tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}
	tests := []struct {
		name string
		err  error
		ph   phase
		want hsync.Kind
	}{
		{"530 auth required", r(530, 5, 7, 0), transaction, hsync.Auth},
		{"534 mechanism too weak", r(534, 5, 7, 9), setup, hsync.Auth},
		{"535 bad credentials", r(535, 5, 7, 8), setup, hsync.Auth},
		{"538 encryption required", r(538, 5, 7, 11), setup, hsync.Auth},
		{"5.7.8 under another code", r(554, 5, 7, 8), transaction, hsync.Auth},
		{"550 in a transaction", r(550, 5, 1, 1), transaction, hsync.Permanent},
		{"552 in a transaction", r(552), transaction, hsync.Permanent},
		{"554 greeting", r(554, 5, 0, 0), setup, hsync.Auth},
		{"421 closing", r(421, 4, 4, 2), transaction, hsync.Transient},
		{"451 local error", r(451, 4, 3, 0), transaction, hsync.Transient},
		{"454 temporary auth failure", r(454, 4, 7, 0), setup, hsync.Transient},
		{"EOF", io.EOF, transaction, hsync.Transient},
		{"timeout", os.ErrDeadlineExceeded, transaction, hsync.Transient},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, transaction, hsync.Transient},
		{"untrusted certificate", fmt.Errorf("wrapped: %w", certErr), setup, hsync.Auth},
		{"a surprise", errors.New("something odd"), transaction, hsync.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := classify(tt.err, tt.ph); got != tt.want {
				t.Errorf("classify(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestWrongPasswordIsAuthAndNeverShown(t *testing.T) {
	sk := newSink()
	cfg := config(sk.start(t, plainSink, nil))
	cfg.Password = staticPassword("wrong-" + testPass)
	_, err := Dial(context.Background(), cfg)
	wantKind(t, err, hsync.Auth)
	if strings.Contains(err.Error(), "wrong-") {
		t.Fatalf("the password leaked: %v", err)
	}
	if !strings.Contains(err.Error(), "535 5.7.8") || !strings.Contains(err.Error(), testUser) {
		t.Errorf("error should give the reply and the username: %v", err)
	}
}

func TestPasswordSourceFailureIsAuth(t *testing.T) {
	sk := newSink()
	cfg := config(sk.start(t, plainSink, nil))
	cfg.Password = func(context.Context) (string, error) { return "", errors.New("password_command exited 1") }
	_, err := Dial(context.Background(), cfg)
	wantKind(t, err, hsync.Auth)
}

func TestLoginFallsBackToLOGINWhenPLAINIsNotOffered(t *testing.T) {
	sk := newSink()
	sk.mechs = []string{"LOGIN"}
	c := dial(t, config(sk.start(t, plainSink, nil)))
	if err := send(c, env, testMsg); err != nil {
		t.Fatal(err)
	}
	if m := sk.messages(); len(m) != 1 || m[0].user != testUser {
		t.Fatalf("messages = %+v", m)
	}
}

func TestNoAuthOfferedIsAuth(t *testing.T) {
	sk := newSink()
	sk.mechs = []string{}
	_, err := Dial(context.Background(), config(sk.start(t, plainSink, nil)))
	wantKind(t, err, hsync.Auth)
}

func TestTLSModesDeliver(t *testing.T) {
	cert, pool := testenv.SelfSigned(t)
	for _, tt := range []struct {
		mode sinkMode
		tls  string
	}{{startTLSSink, "starttls"}, {tlsSink, "tls"}} {
		t.Run(tt.tls, func(t *testing.T) {
			sk := newSink()
			cfg := config(sk.start(t, tt.mode, cert))
			cfg.TLS = tt.tls
			cfg.TLSConfig = &tls.Config{RootCAs: pool}
			c := dial(t, cfg)
			if err := send(c, env, testMsg); err != nil {
				t.Fatal(err)
			}
			m := sk.messages()
			if len(m) != 1 || !m[0].tls || string(m[0].data) != testMsg {
				t.Fatalf("messages = %+v", m)
			}
		})
	}
}

func TestStartTLSNotOfferedIsRefusedBeforeAnyCredential(t *testing.T) {
	sk := newSink()
	cfg := config(sk.start(t, plainSink, nil))
	cfg.TLS = "starttls"
	_, err := Dial(context.Background(), cfg)
	wantKind(t, err, hsync.Auth)
	if !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("error should say STARTTLS is missing: %v", err)
	}
	sk.mu.Lock()
	defer sk.mu.Unlock()
	if sk.authTries != 0 {
		t.Fatalf("the client tried to log in %d times without TLS", sk.authTries)
	}
}

func TestUntrustedCertificateIsAuth(t *testing.T) {
	cert, pool := testenv.SelfSigned(t)
	tests := []struct {
		name string
		mode sinkMode
		tls  string
		cfg  *tls.Config
	}{
		{"tls, self-signed, system roots", tlsSink, "tls", nil},
		{"starttls, self-signed, system roots", startTLSSink, "starttls", nil},
		{"tls, trusted root, wrong name", tlsSink, "tls", &tls.Config{RootCAs: pool, ServerName: "smtp.example.org"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk := newSink()
			cfg := config(sk.start(t, tt.mode, cert))
			cfg.TLS, cfg.TLSConfig = tt.tls, tt.cfg
			_, err := Dial(context.Background(), cfg)
			wantKind(t, err, hsync.Auth)
			var certErr *tls.CertificateVerificationError
			if !errors.As(err, &certErr) {
				t.Errorf("error does not carry the verification failure: %v", err)
			}
			sk.mu.Lock()
			defer sk.mu.Unlock()
			if sk.authTries != 0 {
				t.Fatal("credentials were sent to an untrusted server")
			}
		})
	}
}

func TestConnectionCutMidDataIsTransientAndDeliversNothing(t *testing.T) {
	sk := newSink()
	p, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", sk.start(t, plainSink, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// A first, whole session measures how many bytes the server writes
	// up to its 354 reply to DATA; the same dialogue is then cut there.
	c := dial(t, config(p.Port()))
	if err := send(c, env, testMsg); err != nil {
		t.Fatal(err)
	}
	sk.mu.Lock()
	upTo354 := sk.dataAt[0]
	sk.mu.Unlock()
	p.CutAfter(upTo354)
	c2 := dial(t, config(p.Port()))
	err = c2.Send(context.Background(), env, newBigMessage(4<<20), nil)
	wantKind(t, err, hsync.Transient)
	if _, cut := p.Stats(); cut != 1 {
		t.Fatalf("proxy cut %d connections, want 1", cut)
	}
	if n := len(sk.messages()); n != 1 {
		t.Fatalf("sink has %d messages, want only the first", n)
	}
	// The Client knows its connection is gone.
	wantKind(t, send(c2, env, testMsg), hsync.Transient)
}

// failingReader yields some of a message, then an error.
type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("spool file vanished")
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy\r\n"[(f.n-i)%40]
	}
	f.n -= k
	return k, nil
}

func TestMessageReadFailureNeverEndsDataSoNothingIsDelivered(t *testing.T) {
	sk := newSink()
	c := dial(t, config(sk.start(t, plainSink, nil)))
	err := c.Send(context.Background(), env, io.MultiReader(strings.NewReader("Subject: x\r\n\r\n"), &failingReader{n: 200 << 10}), nil)
	wantKind(t, err, hsync.Transient)
	if !strings.Contains(err.Error(), "spool file vanished") {
		t.Errorf("error should give the read failure: %v", err)
	}
	time.Sleep(50 * time.Millisecond) // let the sink see the cut
	if n := len(sk.messages()); n != 0 {
		t.Fatalf("a truncated message was delivered (%d)", n)
	}
}

func TestFiftyMegabytesAreStreamedNotBuffered(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB transfer")
	}
	sk := newSink()
	sk.hashOnly = true
	c := dial(t, config(sk.start(t, plainSink, nil)))
	msg := newBigMessage(50 << 20)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	stop, sampled := make(chan struct{}), make(chan uint64)
	go func() {
		peak := base
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				sampled <- peak
				return
			case <-tick.C:
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse)
			}
		}
	}()
	err := c.Send(context.Background(), hsync.Envelope{From: env.From, To: env.To[:1]}, msg, nil)
	close(stop)
	peak := <-sampled
	if err != nil {
		t.Fatal(err)
	}
	m := sk.messages()
	if len(m) != 1 || m[0].size != msg.size || string(m[0].sum[:]) != string(msg.h.Sum(nil)) {
		t.Fatalf("the message did not arrive intact (sent %d bytes)", msg.size)
	}
	// Client and sink share this heap; both stream, so the peak stays
	// far below the message (a whole-message buffer would add 50 MB).
	if grew := int64(peak) - int64(base); grew > 16<<20 {
		t.Fatalf("heap grew by %d MiB while sending 50 MiB", grew>>20)
	}
	t.Logf("sent %d MiB, heap in use grew by at most %d KiB", msg.size>>20, (int64(peak)-int64(base))>>10)
}

func TestCancelUnblocksAHungServer(t *testing.T) {
	sk := newSink()
	p, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", sk.start(t, plainSink, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := config(p.Port())
	cfg.Timeout = time.Minute // only the cancel can end it
	c := dial(t, cfg)
	p.Hang()
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = c.Send(ctx, env, strings.NewReader(testMsg), nil)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send returned %v after the cancel", d)
	}
	wantKind(t, err, hsync.Transient)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error should be context.Canceled: %v", err)
	}
	wantKind(t, send(c, env, testMsg), hsync.Transient) // the session is done
}

func TestCancelUnblocksDialOnAHungGreeting(t *testing.T) {
	sk := newSink()
	p, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", sk.start(t, plainSink, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Hang()
	cfg := config(p.Port())
	cfg.Timeout = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = Dial(ctx, cfg)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Dial returned after %v", d)
	}
	wantKind(t, err, hsync.Transient)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error should be the context's: %v", err)
	}
}

// Connecting through the login has its own, shorter deadline
// (mail.timeout): a server that accepts the connection and never greets
// costs DialTimeout, not the minute each command may take.
func TestDialTimeoutBoundsAHungGreetingWithoutAContextDeadline(t *testing.T) {
	sk := newSink()
	p, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", sk.start(t, plainSink, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Hang()
	cfg := config(p.Port())
	cfg.Timeout, cfg.DialTimeout = time.Minute, 500*time.Millisecond
	start := time.Now()
	_, err = Dial(context.Background(), cfg)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Dial returned after %v; the dial timeout is 500ms", d)
	}
	wantKind(t, err, hsync.Transient)
	if err == nil || !strings.Contains(err.Error(), "within 500ms (mail.timeout)") {
		t.Errorf("error %v, want it to name the dial timeout", err)
	}
}

func TestTimeoutEndsACommandWithoutAContextDeadline(t *testing.T) {
	sk := newSink()
	p, err := faultproxy.New(fmt.Sprintf("127.0.0.1:%d", sk.start(t, plainSink, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cfg := config(p.Port())
	cfg.Timeout = 300 * time.Millisecond
	c := dial(t, cfg)
	p.Hang()
	start := time.Now()
	err = send(c, env, testMsg)
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Send returned after %v", d)
	}
	wantKind(t, err, hsync.Transient)
}

func TestInvalidEnvelopeIsPermanent(t *testing.T) {
	sk := newSink()
	c := dial(t, config(sk.start(t, plainSink, nil)))
	for _, e := range []hsync.Envelope{
		{From: "alice@example.org"},
		{From: "alice@example.org", To: []string{"bob@example.org\r\nRCPT TO:<eve@example.org>"}},
		{From: "alice@example.org>", To: []string{"bob@example.org"}},
	} {
		wantKind(t, send(c, e, testMsg), hsync.Permanent)
	}
	if err := send(c, env, testMsg); err != nil {
		t.Fatalf("the session should be untouched: %v", err)
	}
}

func TestUnknownTLSModeIsRefused(t *testing.T) {
	cfg := config(1)
	cfg.TLS = "maybe"
	_, err := Dial(context.Background(), cfg)
	wantKind(t, err, hsync.Auth)
}
