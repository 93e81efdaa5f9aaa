package imap_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/emersion/go-imap/v2"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

func TestIMAPOverTLSIsVerified(t *testing.T) {
	cert, roots := testenv.SelfSigned(t)
	srv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}}, &tls.Config{Certificates: []tls.Certificate{*cert}})
	host := srv.Host
	base := imapconn.Config{Host: host, Port: srv.Port, TLS: "tls", Username: "me", Password: func(context.Context) (string, error) { return "pw", nil }}

	untrusted := base
	if _, err := imapconn.Dial(context.Background(), untrusted); err == nil || hsync.KindOf(err) != hsync.Auth {
		t.Fatalf("self-signed certificate: %v (kind %v), want an auth-kind refusal", err, hsync.KindOf(err))
	}
	trusted := base
	trusted.TLSConfig = &tls.Config{RootCAs: roots, ServerName: host}
	s, err := imapconn.Dial(context.Background(), trusted)
	if err != nil {
		t.Fatalf("trusted certificate: %v", err)
	}
	s.Close()
}
