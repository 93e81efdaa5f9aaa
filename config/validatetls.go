package config

import (
	"crypto/tls"
	"fmt"
	"os"
)

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
