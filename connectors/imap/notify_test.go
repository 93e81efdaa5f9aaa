package imap_test

import (
	"context"
	"crypto/tls"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// memServer is go-imap's memory server (no NOTIFY) with one user whose
// password is given.
func memServer(t *testing.T, user, password string) (host string, port int) {
	t.Helper()
	mem := imapmemserver.New()
	mem.AddUser(imapmemserver.NewUser(user, password))
	s := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true,
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return "127.0.0.1", ln.Addr().(*net.TCPAddr).Port
}

func TestNotifierLogsInAndClassifiesLikeDial(t *testing.T) {
	const awkward = `p"w\ 1 ü` // quoting cannot carry it: a literal
	host, port := memServer(t, "me", awkward)
	pw := func(p string) func(context.Context) (string, error) {
		return func(context.Context) (string, error) { return p, nil }
	}
	cert, roots := testenv.SelfSigned(t)
	tlsSrv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}}, &tls.Config{Certificates: []tls.Certificate{*cert}})
	dovecot := testenv.StartDovecot(t)

	for _, tc := range []struct {
		name string
		cfg  imapconn.Config
		want hsync.Kind
		ok   bool
	}{
		{"a password that needs a literal logs in; no NOTIFY there is permanent",
			imapconn.Config{Host: host, Port: port, TLS: "none", Username: "me", Password: pw(awkward)}, hsync.Permanent, false},
		{"a wrong password needs the user",
			imapconn.Config{Host: host, Port: port, TLS: "none", Username: "me", Password: pw("nope")}, hsync.Auth, false},
		{"an untrusted certificate needs the user",
			imapconn.Config{Host: tlsSrv.Host, Port: tlsSrv.Port, TLS: "tls", Username: "me", Password: pw("pw")}, hsync.Auth, false},
		{"a trusted certificate logs in",
			imapconn.Config{Host: tlsSrv.Host, Port: tlsSrv.Port, TLS: "tls", Username: "me", Password: pw("pw"),
				TLSConfig: &tls.Config{RootCAs: roots, ServerName: tlsSrv.Host}}, hsync.Permanent, false},
		{"nothing listening is transient",
			imapconn.Config{Host: "127.0.0.1", Port: 1, TLS: "none", Username: "me", Password: pw("pw")}, hsync.Transient, false},
		{"Dovecot offers NOTIFY",
			imapconn.Config{Host: dovecot.Host, Port: dovecot.Port, TLS: "none", Username: dovecot.User, Password: pw(dovecot.Password)}, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := imapconn.DialNotifier(context.Background(), tc.cfg)
			if tc.ok {
				if err != nil {
					t.Fatalf("DialNotifier: %v", err)
				}
				n.Close()
				return
			}
			if err == nil {
				n.Close()
				t.Fatal("DialNotifier succeeded")
			}
			if hsync.KindOf(err) != tc.want {
				t.Fatalf("error %v is %v, want %v", err, hsync.KindOf(err), tc.want)
			}
			if p, _ := tc.cfg.Password(context.Background()); strings.Contains(err.Error(), p) {
				t.Fatalf("the error shows the password: %v", err)
			}
		})
	}
}
