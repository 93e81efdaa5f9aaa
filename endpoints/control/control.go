// Package control is the daemon's control API: HTTP over a Unix socket
// that only the owner can open (mode 0600), used by the CLI to ask a
// running daemon for its state, to reload its configuration and, later, to
// nudge its engines.
//
// Invariants: the socket file is created with mode 0600 before any client
// can connect (the umask is tightened around the bind); the server never
// listens on TCP; responses never carry a secret.
package control

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"
)

// DaemonInfo is what the daemon says about itself.
type DaemonInfo struct {
	PID        int       `json:"pid"`
	Version    string    `json:"version"`
	StartedAt  time.Time `json:"started_at"`
	ConfigPath string    `json:"config_path"`
	// ConfigFiles are the files the running configuration was built from,
	// lowest layer first.
	ConfigFiles []string    `json:"config_files"`
	DataDir     string      `json:"data_dir"`
	Reload      ReloadState `json:"reload"`
	// Connecting lists the services whose connection (connect, greeting,
	// login) is under way now; runtime only, never stored.
	Connecting []Connecting `json:"connecting,omitempty"`
	// Listeners are the local endpoints for mail apps that are serving
	// now (a disabled one, or one nobody could log in to, is absent).
	Listeners []Listener `json:"listeners,omitempty"`
}

// Listener is a serving local endpoint: "smtp", "imap" or "caldav" and its
// address.
type Listener struct {
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// Connecting is a provider service the daemon is connecting to.
type Connecting struct {
	Account string    `json:"account"`
	Service string    `json:"service"`
	Since   time.Time `json:"since"`
}

// ReloadState is the outcome of the last configuration (re)load.
type ReloadState struct {
	OK    bool      `json:"ok"`
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"` // why the last attempt was rejected
	// Generation counts successfully applied configurations, starting at 1.
	Generation int `json:"generation"`
}

// Daemon is what the control server needs from the running daemon.
type Daemon interface {
	Info() DaemonInfo
	// Reload validates and applies the configuration file. On error the
	// running configuration is kept.
	Reload(ctx context.Context) (ReloadState, error)
	// SyncNow runs a full sync pass of one account ("" for all) on the
	// daemon's own loops and returns a JSON-encodable result. Force lets
	// the files sync pass its mass-delete guard.
	SyncNow(ctx context.Context, account string, o SyncOptions) (any, error)
	// VerifyNow compares the mail mirror of one account ("" for all) in
	// full with the server, repairing it when asked, on the daemon's own
	// loops, and returns a JSON-encodable result.
	VerifyNow(ctx context.Context, account string, repair bool) (any, error)
	// Nudge tells the daemon that actions were queued by another process
	// (the CLI), so the account's workers look at the queue now.
	Nudge(account, service string)
	// LoginURL returns a URL that opens the status page once.
	LoginURL() (string, error)
	// SignedIn tells the daemon that an account has a new OAuth2 sign-in
	// (holdover account login): a service waiting for it resumes and its
	// queue drains.
	SignedIn(account string)
}

// Listen binds the Unix socket at path with mode 0600, replacing a stale
// socket file. The caller must hold the data directory lock, which proves
// no other daemon is serving on it.
func Listen(path string) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != os.ModeSocket {
			return nil, fmt.Errorf("control socket %s: exists and is not a socket; refusing to replace it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: remove stale socket: %w", path, err)
		}
	}
	ln, err := listenPrivate(path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

// NewHandler returns the control API's routes.
func NewHandler(d Daemon) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/info", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, d.Info())
	})
	mux.HandleFunc("POST /v1/reload", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Reload(r.Context())
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error(), Reload: &st})
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("POST /v1/nudge", func(w http.ResponseWriter, r *http.Request) {
		d.Nudge(r.URL.Query().Get("account"), r.URL.Query().Get("service"))
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /v1/signed-in", func(w http.ResponseWriter, r *http.Request) {
		d.SignedIn(r.URL.Query().Get("account"))
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /v1/login-url", func(w http.ResponseWriter, r *http.Request) {
		u, err := d.LoginURL()
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, loginURL{URL: u})
	})
	mux.HandleFunc("POST /v1/sync", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.SyncNow(r.Context(), r.URL.Query().Get("account"), SyncOptions{Force: r.URL.Query().Get("force") == "1"})
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	mux.HandleFunc("POST /v1/verify", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		res, err := d.VerifyNow(r.Context(), q.Get("account"), q.Get("repair") == "1")
		if err != nil {
			writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
	return mux
}

type loginURL struct {
	URL string `json:"url"`
}

type errorBody struct {
	Error  string       `json:"error"`
	Reload *ReloadState `json:"reload,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Client talks to a daemon's control socket.
type Client struct {
	path string
	http *http.Client
}

// ErrNoDaemon reports that no daemon answers on the socket.
var ErrNoDaemon = errors.New("no daemon is running")

// NewClient returns a client for the socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
	}
	// No overall timeout: a requested sync pass can take long; callers
	// bound their requests with the context.
	return &Client{path: path, http: &http.Client{Transport: tr}}
}

// Info asks the daemon about itself. It returns ErrNoDaemon when nothing
// listens on the socket.
func (c *Client) Info(ctx context.Context) (DaemonInfo, error) {
	var info DaemonInfo
	err := c.do(ctx, http.MethodGet, "/v1/info", &info)
	return info, err
}

// Reload asks the daemon to reload its configuration; a rejected
// configuration comes back as an error with the daemon's reason.
func (c *Client) Reload(ctx context.Context) (ReloadState, error) {
	var st ReloadState
	err := c.do(ctx, http.MethodPost, "/v1/reload", &st)
	return st, err
}

// SyncOptions change a requested pass.
type SyncOptions struct {
	Force bool // past the files mass-delete guard
}

// SyncNow asks the daemon for a full pass and returns its JSON result.
func (c *Client) SyncNow(ctx context.Context, account string, o SyncOptions) (json.RawMessage, error) {
	var raw json.RawMessage
	q := "/v1/sync?account=" + url.QueryEscape(account)
	if o.Force {
		q += "&force=1"
	}
	err := c.do(ctx, http.MethodPost, q, &raw)
	return raw, err
}

// VerifyNow asks the daemon for a full verification and returns its JSON
// result.
func (c *Client) VerifyNow(ctx context.Context, account string, repair bool) (json.RawMessage, error) {
	var raw json.RawMessage
	q := "/v1/verify?account=" + url.QueryEscape(account)
	if repair {
		q += "&repair=1"
	}
	err := c.do(ctx, http.MethodPost, q, &raw)
	return raw, err
}

// Nudge tells a running daemon that account's queue for service changed.
func (c *Client) Nudge(ctx context.Context, account, service string) error {
	var out struct{}
	return c.do(ctx, http.MethodPost, "/v1/nudge?account="+url.QueryEscape(account)+"&service="+url.QueryEscape(service), &out)
}

// SignedIn tells a running daemon that account has a new sign-in.
func (c *Client) SignedIn(ctx context.Context, account string) error {
	var out struct{}
	return c.do(ctx, http.MethodPost, "/v1/signed-in?account="+url.QueryEscape(account), &out)
}

// LoginURL asks the daemon for a one-time URL of the status page.
func (c *Client) LoginURL(ctx context.Context) (string, error) {
	var out loginURL
	err := c.do(ctx, http.MethodPost, "/v1/login-url", &out)
	return out.URL, err
}

func (c *Client) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, "http://holdover"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return fmt.Errorf("%w (control socket %s)", ErrNoDaemon, c.path)
		}
		return fmt.Errorf("control socket %s: %w", c.path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb errorBody
		if json.NewDecoder(resp.Body).Decode(&eb) == nil && eb.Error != "" {
			return errors.New(eb.Error)
		}
		return fmt.Errorf("control socket %s: %s %s: %s", c.path, method, path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(out)
}
