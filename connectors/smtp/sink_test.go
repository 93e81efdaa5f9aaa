package smtp

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"hash"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// sink is an in-process SMTP server that stores what it receives and
// answers what a test tells it to.
type sink struct {
	user, pass string   // the only login accepted; "" user: no login needed
	mechs      []string // AUTH mechanisms offered; nil: PLAIN
	hashOnly   bool     // keep a digest, not the bytes (big messages)

	mu        sync.Mutex
	mailReply *smtp.SMTPError
	rcptReply map[string]*smtp.SMTPError
	dataReply *smtp.SMTPError
	msgs      []sinkMsg
	authTries int
	dataAt    []int64 // bytes the server had written on the connection when DATA began
}

type sinkMsg struct {
	from string
	to   []string
	user string
	tls  bool
	data []byte // nil with hashOnly
	size int64
	sum  [sha256.Size]byte
}

func (s *sink) set(f func(s *sink)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *sink) messages() []sinkMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]sinkMsg(nil), s.msgs...)
}

// sinkMode says how the sink listens.
type sinkMode int

const (
	plainSink    sinkMode = iota // no TLS at all; AUTH allowed in plaintext
	startTLSSink                 // offers STARTTLS
	tlsSink                      // implicit TLS
)

// start serves the sink on 127.0.0.1 and returns its port.
func (s *sink) start(t *testing.T, mode sinkMode, cert *tls.Certificate) int {
	t.Helper()
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &sinkSession{sk: s, conn: c}, nil
	}))
	srv.Domain = "sink.test"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.MaxMessageBytes = 0
	srv.AllowInsecureAuth = mode == plainSink
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln = countingListener{ln}
	switch mode {
	case startTLSSink:
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	case tlsSink:
		ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{*cert}})
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().(*net.TCPAddr).Port
}

type sinkSession struct {
	sk     *sink
	conn   *smtp.Conn
	user   string
	authed bool
	from   string
	to     []string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if ss.sk.mechs == nil {
		return []string{sasl.Plain}
	}
	return ss.sk.mechs
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return ss.login(user, pass) }), nil
	case sasl.Login:
		return &loginServer{check: ss.login}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *sinkSession) login(user, pass string) error {
	ss.sk.mu.Lock()
	defer ss.sk.mu.Unlock()
	ss.sk.authTries++
	if user != ss.sk.user || pass != ss.sk.pass {
		return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}
	}
	ss.user, ss.authed = user, true
	return nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.sk.mu.Lock()
	defer ss.sk.mu.Unlock()
	if ss.sk.user != "" && !ss.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	}
	if r := ss.sk.mailReply; r != nil {
		return r
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.sk.mu.Lock()
	defer ss.sk.mu.Unlock()
	if r := ss.sk.rcptReply[to]; r != nil {
		return r
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	if cc, ok := ss.conn.Conn().(*countingConn); ok {
		ss.sk.mu.Lock()
		ss.sk.dataAt = append(ss.sk.dataAt, cc.written.Load())
		ss.sk.mu.Unlock()
	}
	h := sha256.New()
	var buf strings.Builder
	var w io.Writer = io.MultiWriter(h, &buf)
	if ss.sk.hashOnly {
		w = h
	}
	n, err := io.Copy(w, r)
	if err != nil {
		return err // a cut connection: nothing is stored
	}
	ss.sk.mu.Lock()
	defer ss.sk.mu.Unlock()
	if r := ss.sk.dataReply; r != nil {
		return r
	}
	_, isTLS := ss.conn.TLSConnectionState()
	m := sinkMsg{from: ss.from, to: ss.to, user: ss.user, tls: isTLS, size: n}
	copy(m.sum[:], h.Sum(nil))
	if !ss.sk.hashOnly {
		m.data = []byte(buf.String())
	}
	ss.sk.msgs = append(ss.sk.msgs, m)
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }

// loginServer is the server side of SASL LOGIN (go-sasl has only the
// client): "Username:", "Password:", then the check.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	l.step++
	switch l.step {
	case 1:
		if resp != nil {
			return nil, false, errors.New("no initial response expected")
		}
		return []byte("Username:"), false, nil
	case 2:
		l.user = string(resp)
		return []byte("Password:"), false, nil
	case 3:
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// countingListener counts what the server writes on each connection, so a
// test can cut a later connection at an exact point of the dialogue.
type countingListener struct{ net.Listener }

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c}, nil
}

type countingConn struct {
	net.Conn
	written atomic.Int64
}

func (c *countingConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.written.Add(int64(n))
	return n, err
}

// bigMessage generates a message of about size bytes, in whole 78-byte
// lines, without holding it or allocating per line, and hashes what it
// produced.
type bigMessage struct {
	lines int // still to produce after the current one
	line  []byte
	pos   int
	n     int
	size  int64
	h     hash.Hash
}

func newBigMessage(size int64) *bigMessage {
	head := "From: alice@example.org\r\nTo: bob@example.org\r\nSubject: big\r\n\r\n"
	line := make([]byte, 0, 78)
	line = append(line, head...)
	return &bigMessage{lines: int(size / 78), line: line, h: sha256.New()}
}

func (b *bigMessage) Read(p []byte) (int, error) {
	total := 0
	for total < len(p) {
		if b.pos == len(b.line) {
			if b.lines == 0 {
				break
			}
			b.lines--
			b.n++
			b.line = b.line[:0]
			for range 68 {
				b.line = append(b.line, 'x')
			}
			b.line = fmt.Appendf(b.line, "%08d\r\n", b.n)
			b.pos = 0
		}
		k := copy(p[total:], b.line[b.pos:])
		b.pos += k
		total += k
	}
	b.h.Write(p[:total])
	b.size += int64(total)
	if total == 0 {
		return 0, io.EOF
	}
	return total, nil
}
