package demo

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// imapProvider is go-imap's in-memory IMAP server on loopback: the
// demo's mail provider. holdover signs in to it with OAuth2; the phone,
// past holdover, with a password (LOGIN), as with an app password.
type imapProvider struct {
	user     *imapmemserver.User
	userName string
	password string
	oauth    *signIns
	srv      *imapserver.Server
	ln       net.Listener
	done     chan struct{}
}

type literal struct {
	*bytes.Reader
}

func (l literal) Size() int64 { return l.Reader.Size() }

func startIMAP(user, password string, idp *idProvider) (*imapProvider, error) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	for _, name := range []string{"INBOX", "Archive", "Sent"} {
		if err := u.Create(name, nil); err != nil {
			return nil, err
		}
	}
	mem.AddUser(u)
	p := &imapProvider{user: u, userName: user, password: password, oauth: &signIns{idp: idp}, done: make(chan struct{})}
	p.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &imapSession{p: p}, nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapIdle: {}, imap.CapMove: {}, imap.CapUIDPlus: {}},
		InsecureAuth: true,
		Logger:       quiet{},
	})
	var err error
	if p.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	go func() { p.srv.Serve(p.ln); close(p.done) }()
	return p, nil
}

func (p *imapProvider) addr() string { return p.ln.Addr().String() }

// imapSession is one connection to the IMAP provider: LOGIN with the
// password, or AUTHENTICATE OAUTHBEARER/XOAUTH2 with an access token of
// the demo's identity provider (go-imap's SessionSASL).
type imapSession struct {
	*imapmemserver.UserSession // nil until signed in
	p                          *imapProvider
}

var _ imapserver.SessionSASL = (*imapSession)(nil)

func (s *imapSession) Login(user, password string) error {
	if err := s.p.user.Login(user, password); err != nil {
		return err
	}
	s.UserSession = imapmemserver.NewUserSession(s.p.user)
	return nil
}

func (s *imapSession) AuthenticateMechanisms() []string { return bearerMechanisms }

func (s *imapSession) Authenticate(mech string) (sasl.Server, error) {
	if !slices.Contains(bearerMechanisms, mech) {
		return nil, &imap.Error{Type: imap.StatusResponseTypeNo, Text: "SASL mechanism not supported"}
	}
	return newBearerServer(mech, func(user, token string) bool {
		if user != s.p.userName || !s.p.oauth.accept(user, token) {
			return false
		}
		s.UserSession = imapmemserver.NewUserSession(s.p.user)
		return true
	}, &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeAuthenticationFailed, Text: "invalid token"}), nil
}

// signIns records the OAuth2 sign-ins a mail server accepted.
type signIns struct {
	idp  *idProvider
	mu   sync.Mutex
	last time.Time // when the newest token accepted was issued
}

func (s *signIns) accept(user, token string) bool {
	issued, ok := s.idp.check(user, token)
	if ok {
		s.mu.Lock()
		if issued.After(s.last) {
			s.last = issued
		}
		s.mu.Unlock()
	}
	return ok
}

// newest is when the newest token the server accepted was issued.
func (s *signIns) newest() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

func (p *imapProvider) seed(n int) error {
	senders := []string{"Alice Martin <alice@example.com>", "Bob Chen <bob@example.org>", "Carol Diaz <carol@example.net>"}
	subjects := []string{"Quarterly budget", "Lunch on Friday?", "Re: the server migration", "Invoice 2026-%d", "Minutes of the board meeting", "Holiday schedule"}
	for i := 0; i < n; i++ {
		subject := subjects[i%len(subjects)]
		if strings.Contains(subject, "%d") {
			subject = fmt.Sprintf(subject, i)
		}
		raw := fmt.Sprintf("From: %s\r\nTo: you@example.com\r\nSubject: %s\r\nMessage-ID: <demo-%d@example.com>\r\nDate: %s\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nMessage %d of the demo mailbox.\r\n",
			senders[i%len(senders)], subject, i, time.Now().Add(-time.Duration(n-i)*time.Hour).Format(time.RFC1123Z), i)
		folder := "INBOX"
		if i%4 == 3 {
			folder = "Archive"
		}
		var flags []imap.Flag
		if i%3 == 0 {
			flags = []imap.Flag{imap.FlagSeen}
		}
		if _, err := p.user.Append(folder, literal{bytes.NewReader([]byte(raw))}, &imap.AppendOptions{Flags: flags, Time: time.Now()}); err != nil {
			return err
		}
	}
	return nil
}

// otherClient logs in to the provider directly, as a phone or webmail
// would, past holdover's cut.
func (p *imapProvider) otherClient() (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(p.addr(), nil)
	if err != nil {
		return nil, err
	}
	if err := c.Login(p.userName, p.password).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// moveElsewhere moves a message the way another mail client would.
func (p *imapProvider) moveElsewhere(from, to, msgID string) error {
	c, err := p.otherClient()
	if err != nil {
		return err
	}
	defer c.Close()
	if _, err := c.Select(from, nil).Wait(); err != nil {
		return err
	}
	data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: msgID}}}, nil).Wait()
	if err != nil || len(data.AllUIDs()) != 1 {
		return fmt.Errorf("demo: %s is not in %s exactly once (%v)", msgID, from, err)
	}
	var set imap.UIDSet
	set.AddNum(data.AllUIDs()...)
	_, err = c.Move(set, to).Wait()
	return err
}

// check asks the provider, directly, whether the offline changes arrived.
func (p *imapProvider) check(flaggedID, movedID string) error {
	c, err := p.otherClient()
	if err != nil {
		return err
	}
	defer c.Close()
	find := func(folder, id string) (*imapclient.FetchMessageBuffer, error) {
		if _, err := c.Select(folder, nil).Wait(); err != nil {
			return nil, err
		}
		data, err := c.UIDSearch(&imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Message-ID", Value: id}}}, nil).Wait()
		if err != nil || len(data.AllUIDs()) != 1 {
			return nil, fmt.Errorf("demo: %s is not in %s exactly once (%v)", id, folder, err)
		}
		var set imap.UIDSet
		set.AddNum(data.AllUIDs()...)
		msgs, err := c.Fetch(set, &imap.FetchOptions{Flags: true}).Collect()
		if err != nil || len(msgs) != 1 {
			return nil, fmt.Errorf("demo: fetch %s: %v", id, err)
		}
		return msgs[0], nil
	}
	m, err := find("INBOX", flaggedID)
	if err != nil {
		return err
	}
	if !slices.Contains(m.Flags, imap.FlagSeen) || !slices.Contains(m.Flags, imap.FlagFlagged) {
		return fmt.Errorf("demo: the provider's flags are %v", m.Flags)
	}
	_, err = find("Archive", movedID)
	return err
}

func (p *imapProvider) close() {
	p.srv.Close()
	<-p.done
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// smtpProvider is the demo's SMTP relay: it records what it receives.
// Like the IMAP provider, it takes OAuth2 sign-ins only.
type smtpProvider struct {
	user  string
	oauth *signIns
	srv   *smtp.Server
	ln    net.Listener
	done  chan struct{}

	mu       sync.Mutex
	received []string // subjects
}

func startSMTP(user string, idp *idProvider) (*smtpProvider, error) {
	p := &smtpProvider{user: user, oauth: &signIns{idp: idp}, done: make(chan struct{})}
	p.srv = smtp.NewServer(p)
	p.srv.Domain = "smtp.demo.test"
	p.srv.AllowInsecureAuth = true
	p.srv.ErrorLog = quiet{}
	var err error
	if p.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	go func() { p.srv.Serve(p.ln); close(p.done) }()
	return p, nil
}

func (quiet) Println(...any) {}

func (p *smtpProvider) addr() string { return p.ln.Addr().String() }

func (p *smtpProvider) close() {
	p.srv.Close()
	<-p.done
}

func (p *smtpProvider) messages() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.received...)
}

// NewSession implements smtp.Backend.
func (p *smtpProvider) NewSession(*smtp.Conn) (smtp.Session, error) { return &smtpSession{p: p}, nil }

type smtpSession struct {
	p      *smtpProvider
	authed bool
}

func (s *smtpSession) AuthMechanisms() []string { return bearerMechanisms }

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	if !slices.Contains(bearerMechanisms, mech) {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return newBearerServer(mech, func(user, token string) bool {
		s.authed = user == s.p.user && s.p.oauth.accept(user, token)
		return s.authed
	}, &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "invalid token"}), nil
}

func (s *smtpSession) Mail(string, *smtp.MailOptions) error {
	if !s.authed {
		return smtp.ErrAuthRequired
	}
	return nil
}

func (s *smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	subject := "(no subject)"
	for _, line := range strings.Split(string(b), "\r\n") {
		if strings.HasPrefix(line, "Subject: ") {
			subject = strings.TrimPrefix(line, "Subject: ")
			break
		}
		if line == "" {
			break
		}
	}
	s.p.mu.Lock()
	s.p.received = append(s.p.received, subject)
	s.p.mu.Unlock()
	return nil
}

func (s *smtpSession) Reset()        {}
func (s *smtpSession) Logout() error { return nil }
