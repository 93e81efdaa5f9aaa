package httpapi

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Access rules, in the order ServeHTTP applies them:
//
//  1. A connection that arrived on a loopback address must name a loopback
//     host (127.0.0.1, ::1, localhost): a web page elsewhere cannot reach
//     the API by pointing its own domain at 127.0.0.1 (DNS rebinding).
//  2. /healthz and /readyz are open (they say nothing but "ok"); /metrics
//     too when listen.metrics_public is set.
//  3. Everything else needs the token, as "Authorization: Bearer …", or a
//     session cookie that the one-time login URL set. A refusal is a bare
//     401: it never says whether a token was missing or wrong.
//  4. A POST must come from the page itself (net/http's cross-origin
//     protection: Sec-Fetch-Site, else Origin against Host), and a POST
//     carried by the cookie must show that it comes from a browser page
//     of ours: a cookie alone never changes anything (no CSRF).

const (
	sessionCookie = "holdover_session"
	// loginCodeTTL bounds how long a printed login URL works; it works
	// once.
	loginCodeTTL = 5 * time.Minute
	// sessionTTL bounds a browser session; `holdover open` makes a new one.
	sessionTTL = 12 * time.Hour
	// maxSecrets bounds the codes and sessions kept, so a flood of logins
	// cannot grow the daemon's memory.
	maxSecrets = 256
)

// sessions holds one-time login codes and browser sessions, as SHA-256
// digests: a lookup by digest reveals nothing through its timing about
// the secret a request carried.
type sessions struct {
	now func() time.Time

	mu    sync.Mutex
	codes map[[32]byte]time.Time // digest → expiry
	live  map[[32]byte]time.Time
}

func newSessions(now func() time.Time) *sessions {
	return &sessions{now: now, codes: map[[32]byte]time.Time{}, live: map[[32]byte]time.Time{}}
}

func randomSecret() string {
	b := make([]byte, tokenBytes)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// add stores a new secret valid for ttl in m, evicting expired ones (and,
// when full, the one closest to expiry).
func (s *sessions) add(m map[[32]byte]time.Time, ttl time.Duration) string {
	secret := randomSecret()
	now := s.now()
	for k, exp := range m {
		if !now.Before(exp) {
			delete(m, k)
		}
	}
	if len(m) >= maxSecrets {
		var oldest [32]byte
		var first time.Time
		for k, exp := range m {
			if first.IsZero() || exp.Before(first) {
				oldest, first = k, exp
			}
		}
		delete(m, oldest)
	}
	m[sha256.Sum256([]byte(secret))] = now.Add(ttl)
	return secret
}

// newLoginCode returns a code that opens one session within loginCodeTTL.
func (s *sessions) newLoginCode() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.add(s.codes, loginCodeTTL)
}

// redeem spends a login code and returns a new session, or false.
func (s *sessions) redeem(code string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := sha256.Sum256([]byte(code))
	exp, ok := s.codes[k]
	delete(s.codes, k)
	if !ok || !s.now().Before(exp) {
		return "", false
	}
	return s.add(s.live, sessionTTL), true
}

func (s *sessions) valid(session string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.live[sha256.Sum256([]byte(session))]
	return ok && s.now().Before(exp)
}

// how a request proved who it is.
type credential int

const (
	noCredential credential = iota
	byToken
	byCookie
)

func (s *Server) credential(r *http.Request) credential {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "Bearer") && subtle.ConstantTimeCompare([]byte(strings.TrimSpace(tok)), []byte(s.opts.Token)) == 1 && s.opts.Token != "" {
			return byToken
		}
		return noCredential // a wrong token is not rescued by a cookie
	}
	if c, err := r.Cookie(sessionCookie); err == nil && s.sess.valid(c.Value) {
		return byCookie
	}
	return noCredential
}

// hostAllowed applies rule 1: a request that came in on a loopback
// address must name a loopback host.
func hostAllowed(r *http.Request) bool {
	local, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return true
	}
	tcp, ok := local.(*net.TCPAddr)
	if !ok || !tcp.IP.IsLoopback() {
		return true
	}
	return isLoopbackHost(r.Host)
}

func isLoopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errCrossOrigin = errors.New("cross-origin request refused")

// sameOrigin applies rule 4 to a state-changing request.
func (s *Server) sameOrigin(r *http.Request, cred credential) error {
	if err := s.csrf.Check(r); err != nil {
		return errCrossOrigin
	}
	if cred == byCookie && r.Header.Get("Sec-Fetch-Site") == "" && r.Header.Get("Origin") == "" {
		return errCrossOrigin
	}
	return nil
}

// login spends the one-time code of /login?code=… and sets the session
// cookie, then sends the browser to the page (the code leaves the
// address bar and the history at once).
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	session, ok := s.sess.redeem(r.URL.Query().Get("code"))
	if !ok {
		s.unauthorized(w, r)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: session, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: int(sessionTTL / time.Second),
		Secure: r.TLS != nil,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// unauthorized answers 401 with nothing about why.
func (s *Server) unauthorized(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="holdover"`)
	if wantsHTML(r) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte(unauthorizedPage))
		return
	}
	writeError(w, http.StatusUnauthorized, "unauthorized")
}

func wantsHTML(r *http.Request) bool {
	return !strings.HasPrefix(r.URL.Path, "/api/") && strings.Contains(r.Header.Get("Accept"), "text/html")
}

const unauthorizedPage = `<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>holdover: sign in</title></head>
<body style="font-family:system-ui,sans-serif;max-width:36em;margin:2em auto;padding:0 1em">
<h1>holdover</h1><p>This page needs a sign-in link. Run <code>holdover open</code> on this computer:
it opens the status page with a link that works once.</p></body></html>
`
