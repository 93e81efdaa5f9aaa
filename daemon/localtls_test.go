package daemon

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/holdover/holdover/internal/testenv"
)

// With listen.tls, the local endpoints on a non-loopback address (here
// every address, 0.0.0.0) take a login only after STARTTLS, with the
// configured certificate; a reload that finds renewed files serves the
// new certificate, and one that finds broken files is rejected with the
// old certificate kept.
func TestLocalEndpointsOfferTheConfiguredCertificateAndReloadIt(t *testing.T) {
	t.Setenv("HOLDOVER_TEST_PW", "remote")
	t.Setenv("HOLDOVER_TEST_LOCAL", "local-secret")
	dir := t.TempDir()
	certDir := filepath.Join(dir, "tls")
	if err := os.Mkdir(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile, pool := testenv.SelfSignedFiles(t, certDir)
	_, imapPort, _ := net.SplitHostPort(freeAddr(t))
	_, smtpPort, _ := net.SplitHostPort(freeAddr(t))
	cfg := filepath.Join(dir, "config.yaml")
	text := fmt.Sprintf(`data_dir: %s
listen:
  http: ""
  smtp: "0.0.0.0:%s"
  imap: "0.0.0.0:%s"
  tls: {cert: %s, key: %s}
accounts:
  - name: work
    mail:
      imap: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      smtp: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      local: {username: me, password_env: HOLDOVER_TEST_LOCAL}
`, filepath.Join(dir, "data"), smtpPort, imapPort, certFile, keyFile)
	if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	r := start(t, cfg)
	imapAddr, smtpAddr := "127.0.0.1:"+imapPort, "127.0.0.1:"+smtpPort

	t.Run("IMAP LOGIN before STARTTLS is refused", func(t *testing.T) {
		c, err := imapclient.DialInsecure(imapAddr, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Login("me", "local-secret").Wait(); err == nil {
			t.Fatal("a plaintext LOGIN succeeded on a non-loopback listener")
		}
	})
	t.Run("SMTP AUTH before STARTTLS is refused", func(t *testing.T) {
		c, err := smtp.Dial(smtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.Auth(sasl.NewPlainClient("", "me", "local-secret")); err == nil {
			t.Fatal("a plaintext AUTH succeeded on a non-loopback listener")
		}
	})

	// served logs in over STARTTLS on both endpoints and returns the
	// certificate each presented.
	served := func(t *testing.T, pool *x509.CertPool) (imapCert, smtpCert []byte) {
		t.Helper()
		// seen records the certificate of each handshake.
		seen := func(dst *[]byte) *tls.Config {
			return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", VerifyConnection: func(cs tls.ConnectionState) error {
				*dst = cs.PeerCertificates[0].Raw
				return nil
			}}
		}
		c, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: seen(&imapCert)})
		if err != nil {
			t.Fatalf("IMAP STARTTLS: %v", err)
		}
		defer c.Close()
		if err := c.Login("me", "local-secret").Wait(); err != nil {
			t.Fatalf("IMAP LOGIN after STARTTLS: %v", err)
		}
		if _, err := c.List("", "*", nil).Collect(); err != nil {
			t.Fatalf("LIST: %v", err)
		}
		conn, err := net.Dial("tcp", smtpAddr)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := smtp.NewClientStartTLS(conn, seen(&smtpCert))
		if err != nil {
			t.Fatalf("SMTP STARTTLS: %v", err)
		}
		defer sc.Close()
		if err := sc.Auth(sasl.NewPlainClient("", "me", "local-secret")); err != nil {
			t.Fatalf("SMTP AUTH after STARTTLS: %v", err)
		}
		return imapCert, smtpCert
	}
	first, firstSMTP := served(t, pool)
	if !bytes.Equal(first, firstSMTP) {
		t.Fatal("the IMAP and SMTP endpoints present different certificates")
	}

	t.Run("a reload serves the renewed certificate", func(t *testing.T) {
		_, _, renewed := testenv.SelfSignedFiles(t, certDir)
		if _, err := r.d.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
		imapCert, smtpCert := served(t, renewed)
		if bytes.Equal(imapCert, first) || !bytes.Equal(imapCert, smtpCert) {
			t.Fatal("still the old certificate after the reload")
		}
		first = imapCert
		pool = renewed
	})

	t.Run("a reload with a broken key is rejected and the certificate stays", func(t *testing.T) {
		if err := os.WriteFile(keyFile, []byte("broken\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := r.d.Reload(context.Background()); err == nil {
			t.Fatal("the reload accepted a broken key")
		}
		if imapCert, _ := served(t, pool); !bytes.Equal(imapCert, first) {
			t.Fatal("the certificate changed after a rejected reload")
		}
	})
}
