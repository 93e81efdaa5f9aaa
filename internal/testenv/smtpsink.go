package testenv

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/mail"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPSink is an embedded go-smtp server standing in for a provider's
// submission server: it accepts AUTH PLAIN with one login over plaintext
// loopback, records every message, and can refuse recipients. It stops at
// the end of the test.
type SMTPSink struct {
	Host           string
	Port           int
	User, Password string

	mu     sync.Mutex
	msgs   []SinkMessage
	reject map[string]*smtp.SMTPError
	oidc   *OIDC    // set by AcceptOAuth2Only
	mechs  []string // the OAuth2 mechanisms offered then
	srv    *smtp.Server
}

// SinkMessage is one delivered message.
type SinkMessage struct {
	From      string
	To        []string
	Data      []byte
	MessageID string
	Mechanism string // the SASL mechanism the sender signed in with
}

// StartSMTPSink starts a sink on 127.0.0.1.
func StartSMTPSink(t testing.TB) *SMTPSink {
	t.Helper()
	s := &SMTPSink{Host: "127.0.0.1", User: "sender@example.com", Password: randomSecret(t), reject: map[string]*smtp.SMTPError{}}
	s.srv = smtp.NewServer(sinkBackend{s})
	s.srv.Domain = "sink.test"
	s.srv.AllowInsecureAuth = true
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	s.srv.MaxMessageBytes = 100 << 20
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Port = ln.Addr().(*net.TCPAddr).Port
	done := make(chan struct{})
	go func() { s.srv.Serve(ln); close(done) }()
	t.Cleanup(func() { s.srv.Close(); <-done })
	return s
}

// Addr is host:port.
func (s *SMTPSink) Addr() string { return net.JoinHostPort(s.Host, strconv.Itoa(s.Port)) }

// Reject makes the sink refuse a recipient with a permanent 550.
func (s *SMTPSink) Reject(rcpt string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject[strings.ToLower(rcpt)] = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + rcpt + ">: user unknown"}
}

// Messages returns what was delivered so far.
func (s *SMTPSink) Messages() []SinkMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SinkMessage(nil), s.msgs...)
}

// Count returns how many times a Message-ID was delivered.
func (s *SMTPSink) Count(messageID string) int {
	n := 0
	for _, m := range s.Messages() {
		if m.MessageID == messageID {
			n++
		}
	}
	return n
}

type sinkBackend struct{ s *SMTPSink }

func (b sinkBackend) NewSession(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: b.s}, nil }

type sinkSession struct {
	s      *SMTPSink
	authed bool
	mech   string
	from   string
	to     []string
}

func (ss *sinkSession) AuthMechanisms() []string {
	if _, mechs := ss.s.oauth2(); mechs != nil {
		return mechs
	}
	return []string{sasl.Plain}
}

func (ss *sinkSession) Auth(mech string) (sasl.Server, error) {
	if o, mechs := ss.s.oauth2(); o != nil {
		for _, m := range mechs {
			if strings.EqualFold(m, mech) {
				return &sinkTokenServer{mech: m, ss: ss, oidc: o}, nil
			}
		}
		return nil, &smtp.SMTPError{Code: 504, EnhancedCode: smtp.EnhancedCode{5, 5, 4}, Message: "mechanism not offered"}
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != ss.s.User || password != ss.s.Password {
			return errors.New("invalid credentials")
		}
		ss.authed, ss.mech = true, sasl.Plain
		return nil
	}), nil
}

func (ss *sinkSession) Mail(from string, _ *smtp.MailOptions) error {
	if !ss.authed {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.s.mu.Lock()
	rej := ss.s.reject[strings.ToLower(to)]
	ss.s.mu.Unlock()
	if rej != nil {
		return rej
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *sinkSession) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m := SinkMessage{From: ss.from, To: ss.to, Data: data, Mechanism: ss.mech}
	if parsed, err := mail.ReadMessage(bytes.NewReader(data)); err == nil {
		m.MessageID = strings.Trim(strings.TrimSpace(parsed.Header.Get("Message-ID")), "<>")
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, m)
	ss.s.mu.Unlock()
	return nil
}

func (ss *sinkSession) Reset()        { ss.from, ss.to = "", nil }
func (ss *sinkSession) Logout() error { return nil }
