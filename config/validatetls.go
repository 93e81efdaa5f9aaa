package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
)

// warnPlaintextListeners warns about a local mail endpoint on a
// non-loopback address without listen.tls: it would refuse every login
// (the password never crosses the network in clear).
func (v *validator) warnPlaintextListeners(c *Config) {
	if c.Listen.TLS != nil {
		return
	}
	for _, o := range []struct{ key, addr string }{{"listen.smtp", c.Listen.SMTP}, {"listen.imap", c.Listen.IMAP}, {"listen.caldav", c.Listen.CalDAV}} {
		if o.addr == "" || !v.has(at(o.key)) {
			continue
		}
		if host, _, err := net.SplitHostPort(o.addr); err == nil && !isLoopback(host) {
			v.warnf(at(o.key), "%s is not a loopback address and listen.tls is not set: every login will be refused (set listen.tls to offer TLS)", o.addr)
		}
	}
}

// checkListenTLS checks listen.tls: both files given, absolute, readable
// and a matching certificate and key, so that a typo or a key of another
// certificate is a load error at its line, not a failed handshake later.
func (v *validator) checkListenTLS(t *ListenTLS) {
	if t == nil {
		return
	}
	l := at("listen.tls")
	ok := true
	for _, f := range []struct {
		name string
		path *string
	}{{"cert", &t.Cert}, {"key", &t.Key}} {
		if *f.path == "" {
			v.errorf(l, "%s is required (the PEM file of the certificate's %s)", f.name, map[string]string{"cert": "chain", "key": "private key"}[f.name])
			ok = false
			continue
		}
		if !v.absPath(l.sub(f.name), f.path) {
			ok = false
			continue
		}
		if _, err := os.Stat(*f.path); err != nil {
			v.errorf(l.sub(f.name), "%v", err)
			ok = false
		}
	}
	if !ok {
		return
	}
	if _, err := LoadListenTLS(t); err != nil {
		v.errorf(l.sub("cert"), "%v", err)
	}
}

// LoadListenTLS reads the certificate and key that t names (PEM; the
// certificate file may hold the chain after it).
func LoadListenTLS(t *ListenTLS) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
	if err != nil {
		return nil, fmt.Errorf("certificate %s with key %s: %w", t.Cert, t.Key, err)
	}
	return &cert, nil
}
