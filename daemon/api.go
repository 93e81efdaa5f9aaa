package daemon

import (
	"errors"
	"net"

	"github.com/holdover/holdover/endpoints/httpapi"
)

// newAPI builds the handler of listen.http.
func (d *Daemon) newAPI() *httpapi.Server {
	return httpapi.New(httpapi.Options{
		Metrics: d.metrics.reg,
		Ready:   d.ready.Load,
		Token:   d.apiToken,
		MetricsPublic: func() bool {
			return d.Config().Listen.MetricsPublic
		},
		Now: d.opts.Clock.Now,
	})
}

// LoginURL implements control.Daemon: a URL that opens the status page
// in a browser once (the CLI's `holdover open` and `holdover status`).
func (d *Daemon) LoginURL() (string, error) {
	addr := ""
	if d.http != nil {
		addr = d.http.current()
	}
	if addr == "" || d.api == nil {
		return "", errors.New("the status page is off: listen.http is disabled")
	}
	return d.api.LoginURL(browserAddr(addr)), nil
}

// browserAddr is the address a browser on this computer uses for a
// listener: one bound to every interface is reached over loopback.
func browserAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
