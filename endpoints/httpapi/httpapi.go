// Package httpapi is the daemon's local HTTP listener (listen.http,
// 127.0.0.1:7878 by default): liveness, readiness, Prometheus metrics, the
// JSON API under /api/v1/ and the status page.
//
// Invariants (see auth.go for the access rules in full):
//   - Nothing but /healthz and /readyz (and /metrics when
//     listen.metrics_public is set) answers without the API token or a
//     session opened with a one-time login URL.
//   - No state changes on a GET; a POST from another origin is refused.
//   - Nothing served carries a secret: no password, no token, no error
//     text that could hold one beyond what `holdover status` shows.
package httpapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Options configure a Server.
type Options struct {
	Metrics prometheus.Gatherer
	// Ready reports whether the daemon has opened its store and started
	// its components.
	Ready func() bool
	// Token is the API token (LoadOrCreateToken); empty refuses every
	// bearer.
	Token string
	// MetricsPublic reports listen.metrics_public in force (a reload can
	// change it); nil means false.
	MetricsPublic func() bool
	// Daemon serves the API and the page; nil serves only the open
	// endpoints and /metrics (tests of access alone).
	Daemon Daemon
	Now    func() time.Time
}

// Server is the handler of listen.http.
type Server struct {
	opts Options
	sess *sessions
	csrf *http.CrossOriginProtection
	mux  *http.ServeMux
	// open answers without credentials.
	open *http.ServeMux
}

// New returns the handler of listen.http.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MetricsPublic == nil {
		o.MetricsPublic = func() bool { return false }
	}
	s := &Server{opts: o, sess: newSessions(o.Now), csrf: http.NewCrossOriginProtection(), mux: http.NewServeMux(), open: http.NewServeMux()}
	s.open.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.open.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !o.Ready() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	s.open.HandleFunc("GET /login", s.login)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(o.Metrics, promhttp.HandlerOpts{}))
	s.routes()
	return s
}

// ServeHTTP applies the access rules, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Referrer-Policy", "no-referrer")
	w.Header().Set("X-Frame-Options", "DENY")
	if !hostAllowed(r) {
		writeError(w, http.StatusForbidden, "this listener answers only requests addressed to 127.0.0.1, ::1 or localhost")
		return
	}
	if h, pattern := s.open.Handler(r); pattern != "" {
		h.ServeHTTP(w, r)
		return
	}
	if r.URL.Path == "/metrics" && s.opts.MetricsPublic() {
		s.mux.ServeHTTP(w, r)
		return
	}
	cred := s.credential(r)
	if cred == noCredential {
		s.unauthorized(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && r.Method != http.MethodOptions {
		if err := s.sameOrigin(r, cred); err != nil {
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.notFound(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// notFound answers a request no route takes: 405 when the path exists
// for another method, 404 otherwise, both as JSON.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" {
			w.Header().Set("Allow", m)
			writeError(w, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+m)
			return
		}
	}
	writeError(w, http.StatusNotFound, "no such page: "+r.URL.Path)
}

// LoginURL returns a URL that opens a browser session once, within five
// minutes. base is the listener's address ("127.0.0.1:7878").
func (s *Server) LoginURL(base string) string {
	u := url.URL{Scheme: "http", Host: base, Path: "/login", RawQuery: url.Values{"code": {s.sess.newLoginCode()}}.Encode()}
	return u.String()
}

// errorBody is every error the API answers.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
