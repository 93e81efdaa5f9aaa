package daemon

import (
	"crypto/tls"
	"errors"
	"sync/atomic"

	"github.com/holdover/holdover/config"
)

// localCert is the certificate of the local endpoints (listen.tls), read
// from its files at start and at each reload. The endpoints' tls.Config
// asks it at each handshake, so a reload after the files were renewed
// serves the new certificate without restarting a server.
type localCert struct {
	cur atomic.Pointer[tls.Certificate]
}

var errNoLocalCert = errors.New("listen.tls: no certificate loaded")

func (c *localCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	if cert := c.cur.Load(); cert != nil {
		return cert, nil
	}
	return nil, errNoLocalCert
}

// stageLocalTLS reads cfg's listen.tls files (a failure rejects the start
// or the reload with nothing changed); commit makes them the certificate
// served.
func (d *Daemon) stageLocalTLS(cfg *config.Config) (commit func(), err error) {
	if cfg.Listen.TLS == nil {
		return func() { d.localCert.cur.Store(nil) }, nil
	}
	cert, err := config.LoadListenTLS(cfg.Listen.TLS)
	if err != nil {
		return nil, err
	}
	return func() { d.localCert.cur.Store(cert) }, nil
}

// localTLSConfig is the TLS configuration of the local endpoints (SMTP,
// IMAP, CalDAV) under cfg: nil when listen.tls is not set (plaintext,
// loopback logins only).
func (d *Daemon) localTLSConfig(cfg *config.Config) *tls.Config {
	if cfg.Listen.TLS == nil {
		return nil
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: d.localCert.get}
}
