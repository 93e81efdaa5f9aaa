package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdover/holdover/internal/testenv"
)

const tlsAccount = `
accounts:
  - name: a
    mail:
      imap: {host: imap.example.com, username: u, password_env: P}
`

func TestListenTLSLoadsTheCertificateAndKey(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	cert, key, _ := testenv.SelfSignedFiles(t, dir)
	cfg := mustLoad(t, "listen:\n  imap: 0.0.0.0:1143\n  tls: {cert: "+cert+", key: "+key+"}\n"+tlsAccount)
	if cfg.Listen.TLS == nil || cfg.Listen.TLS.Cert != cert || cfg.Listen.TLS.Key != key {
		t.Fatalf("listen.tls = %+v", cfg.Listen.TLS)
	}
	if _, err := LoadListenTLS(cfg.Listen.TLS); err != nil {
		t.Fatal(err)
	}
}

func TestListenTLSErrorsNameTheFileAndLine(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	cert, key, _ := testenv.SelfSignedFiles(t, dir)
	_, otherKey, _ := testenv.SelfSignedFiles(t, t.TempDir())
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tls, want string
	}{
		{"missing key", "{cert: " + cert + "}", "config.yaml:3: listen.tls: key is required"},
		{"relative path", "{cert: cert.pem, key: " + key + "}", `config.yaml:3: listen.tls.cert: "cert.pem" is not an absolute path`},
		{"no such file", "{cert: " + filepath.Join(dir, "nope.pem") + ", key: " + key + "}", "config.yaml:3: listen.tls.cert: stat " + filepath.Join(dir, "nope.pem") + ": no such file"},
		{"not PEM", "{cert: " + garbage + ", key: " + key + "}", "config.yaml:3: listen.tls.cert: certificate " + garbage + " with key " + key + ":"},
		{"key of another certificate", "{cert: " + cert + ", key: " + otherKey + "}", "config.yaml:3: listen.tls.cert: certificate " + cert + " with key " + otherKey + ": tls: private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(writeConfig(t, "listen:\n  imap: 127.0.0.1:1143\n  tls: "+tc.tls+"\n"+tlsAccount))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant it to contain %q", err, tc.want)
			}
		})
	}
}

func TestAPublicMailListenerWithoutTLSIsAWarning(t *testing.T) {
	isolate(t)
	cfg := mustLoad(t, "listen:\n  imap: 0.0.0.0:1143\n  smtp: 127.0.0.1:1587\n"+tlsAccount)
	var got []string
	for _, w := range cfg.Warnings() {
		got = append(got, w.Error())
	}
	if len(got) != 1 || !strings.Contains(got[0], "config.yaml:2: listen.imap: 0.0.0.0:1143 is not a loopback address and listen.tls is not set") {
		t.Fatalf("warnings: %q", got)
	}
	dir := t.TempDir()
	cert, key, _ := testenv.SelfSignedFiles(t, dir)
	cfg = mustLoad(t, "listen:\n  imap: 0.0.0.0:1143\n  tls: {cert: "+cert+", key: "+key+"}\n"+tlsAccount)
	if w := cfg.Warnings(); len(w) != 0 {
		t.Fatalf("warnings with listen.tls: %v", w)
	}
}
