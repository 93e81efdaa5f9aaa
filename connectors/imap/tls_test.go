package imap_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

func TestIMAPOverTLSIsVerified(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	srv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}}, &tls.Config{Certificates: []tls.Certificate{cert}})
	host := srv.Host
	base := imapconn.Config{Host: host, Port: srv.Port, TLS: "tls", Username: "me", Password: func(context.Context) (string, error) { return "pw", nil }}

	untrusted := base
	if _, err := imapconn.Dial(context.Background(), untrusted); err == nil || hsync.KindOf(err) != hsync.Auth {
		t.Fatalf("self-signed certificate: %v (kind %v), want an auth-kind refusal", err, hsync.KindOf(err))
	}
	roots := x509.NewCertPool()
	parsed, _ := x509.ParseCertificate(der)
	roots.AddCert(parsed)
	trusted := base
	trusted.TLSConfig = &tls.Config{RootCAs: roots, ServerName: host}
	s, err := imapconn.Dial(context.Background(), trusted)
	if err != nil {
		t.Fatalf("trusted certificate: %v", err)
	}
	s.Close()
}
