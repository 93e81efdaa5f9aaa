package demo

import (
	"bytes"
	"errors"
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
// demo's mail provider.
type imapProvider struct {
	user     *imapmemserver.User
	userName string
	password string
	srv      *imapserver.Server
	ln       net.Listener
	done     chan struct{}
}

type literal struct {
	*bytes.Reader
}

func (l literal) Size() int64 { return l.Reader.Size() }

func startIMAP(user, password string) (*imapProvider, error) {
	mem := imapmemserver.New()
	u := imapmemserver.NewUser(user, password)
	for _, name := range []string{"INBOX", "Archive", "Sent"} {
		if err := u.Create(name, nil); err != nil {
			return nil, err
		}
	}
	mem.AddUser(u)
	p := &imapProvider{user: u, userName: user, password: password, done: make(chan struct{})}
	p.srv = imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
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
type smtpProvider struct {
	user, password string
	srv            *smtp.Server
	ln             net.Listener
	done           chan struct{}

	mu       sync.Mutex
	received []string // subjects
}

func startSMTP(user, password string) (*smtpProvider, error) {
	p := &smtpProvider{user: user, password: password, done: make(chan struct{})}
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

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.p.user || pass != s.p.password {
			return errors.New("bad credentials")
		}
		s.authed = true
		return nil
	}), nil
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
