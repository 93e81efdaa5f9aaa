package testenv

import (
	"bytes"
	"crypto/tls"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPMem is go-imap's in-memory IMAP server on 127.0.0.1 with chosen
// capabilities: the embedded server for what Dovecot cannot pretend (no
// MOVE, no CONDSTORE, no Trash, TLS with a test certificate). User "me",
// password "pw"; folders INBOX and Archive.
type IMAPMem struct {
	Host string
	Port int
	User *imapmemserver.User
}

// StartIMAPMem starts the server; tlsCfg, when set, makes it implicit TLS.
func StartIMAPMem(t testing.TB, caps imap.CapSet, tlsCfg *tls.Config) *IMAPMem {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("me", "pw")
	for _, name := range []string{"INBOX", "Archive"} {
		if err := u.Create(name, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(u)
	s := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       quietLogger{},
	})
	var ln net.Listener
	var err error
	if tlsCfg != nil {
		ln, err = tls.Listen("tcp", "127.0.0.1:0", tlsCfg)
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return &IMAPMem{Host: "127.0.0.1", Port: ln.Addr().(*net.TCPAddr).Port, User: u}
}

// Addr is host:port.
func (m *IMAPMem) Addr() string { return net.JoinHostPort(m.Host, strconv.Itoa(m.Port)) }

// Append stores a raw message in folder.
func (m *IMAPMem) Append(t testing.TB, folder string, raw []byte) {
	t.Helper()
	if _, err := m.User.Append(folder, memLiteral{bytes.NewReader(raw)}, &imap.AppendOptions{Time: time.Now()}); err != nil {
		t.Fatalf("testenv: append to %s: %v", folder, err)
	}
}

type memLiteral struct{ *bytes.Reader }

func (l memLiteral) Size() int64 { return l.Reader.Size() }

type quietLogger struct{}

func (quietLogger) Printf(string, ...any) {}
