package imapd_test

import (
	"context"
	"crypto/tls"
	"net"
	"testing"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/internal/testenv"
)

// farListener is a loopback listener that claims a public address, to
// check the plaintext-LOGIN rule without a second network interface.
type farListener struct{ net.Listener }

func (farListener) Addr() net.Addr { return &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 143} }

func TestOffLoopbackLoginNeedsSTARTTLS(t *testing.T) {
	cert, pool := testenv.SelfSigned(t)
	serve := func(t *testing.T, tc *tls.Config) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		pw := func(context.Context) (string, error) { return localPass, nil }
		srv := imapd.New(imapd.Options{DB: openStore(t), TLSConfig: tc,
			Auth: locallogin.Static(map[string]locallogin.Login{localUser: {Account: "work", Password: pw}})})
		done := make(chan error, 1)
		go func() { done <- srv.Serve(farListener{ln}) }()
		t.Cleanup(func() { srv.Close(); <-done })
		return ln.Addr().String()
	}

	t.Run("without TLS every login is refused", func(t *testing.T) {
		c, err := imapclient.DialInsecure(serve(t, nil), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !c.Caps().Has(imap.CapLoginDisabled) {
			t.Errorf("LOGINDISABLED not announced: %v", c.Caps())
		}
		if err := c.Login(localUser, localPass).Wait(); err == nil {
			t.Fatal("a plaintext LOGIN succeeded on a public address")
		}
	})

	tc := &tls.Config{Certificates: []tls.Certificate{*cert}}
	t.Run("LOGIN before STARTTLS is refused", func(t *testing.T) {
		c, err := imapclient.DialInsecure(serve(t, tc), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if !c.Caps().Has(imap.CapStartTLS) {
			t.Errorf("STARTTLS not offered: %v", c.Caps())
		}
		if err := c.Login(localUser, localPass).Wait(); err == nil {
			t.Fatal("a plaintext LOGIN succeeded although STARTTLS is offered")
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("the session after the refused LOGIN: %v", err)
		}
	})

	t.Run("STARTTLS then LOGIN works", func(t *testing.T) {
		c, err := imapclient.DialStartTLS(serve(t, tc), &imapclient.Options{TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login(localUser, localPass).Wait(); err != nil {
			t.Fatalf("LOGIN after STARTTLS: %v", err)
		}
		if _, err := c.List("", "*", nil).Collect(); err != nil {
			t.Fatal(err)
		}
	})
}
