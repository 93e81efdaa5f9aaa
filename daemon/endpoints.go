package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/holdover/holdover/endpoints/control"
)

// endpoint is a local HTTP listener that a reload can move: the new
// address is bound first (a bind failure rejects the reload with nothing
// changed), then the old server is shut down gracefully.
type endpoint struct {
	name    string
	handler http.Handler
	log     *slog.Logger
	// failed receives a Serve error that did not come from a shutdown.
	failed chan<- error

	mu   sync.Mutex
	addr string // "" when disabled
	srv  *http.Server
	wg   sync.WaitGroup
}

// listen binds addr for this endpoint: a Unix socket (mode 0600) for the
// control endpoint, TCP otherwise.
func (e *endpoint) listen(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	if e.name == "control" {
		return control.Listen(addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen.%s %s: %w", e.name, addr, err)
	}
	return ln, nil
}

// swap starts serving on ln (nil: disabled) at addr and stops the server
// it replaces.
func (e *endpoint) swap(addr string, ln net.Listener) {
	e.mu.Lock()
	old, oldAddr := e.srv, e.addr
	e.srv, e.addr = nil, addr
	if ln != nil {
		srv := &http.Server{Handler: e.handler, ReadHeaderTimeout: 10 * time.Second}
		e.srv = srv
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				e.failed <- fmt.Errorf("%s endpoint %s: %w", e.name, addr, err)
			}
		}()
	}
	e.mu.Unlock()
	if old != nil {
		e.shutdown(old)
		if e.name == "control" && oldAddr != addr {
			os.Remove(oldAddr)
		}
		if oldAddr != addr {
			e.log.Info("endpoint moved", "endpoint", e.name, "from", oldAddr, "to", addr)
		}
	}
}

func (e *endpoint) shutdown(srv *http.Server) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		e.log.Warn("endpoint did not stop gracefully", "endpoint", e.name, "err", err)
		srv.Close()
	}
}

// current is the address served now.
func (e *endpoint) current() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.addr
}

// stop shuts the endpoint down and waits for its server goroutines.
func (e *endpoint) stop() {
	e.mu.Lock()
	srv, addr := e.srv, e.addr
	e.srv = nil
	e.mu.Unlock()
	if srv != nil {
		e.shutdown(srv)
	}
	e.wg.Wait()
	if e.name == "control" && addr != "" {
		os.Remove(addr)
	}
}
