package demo

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// idProvider is the demo's identity provider: a minimal OAuth2 server
// (RFC 6749) on loopback with the authorization code grant, PKCE S256
// (RFC 7636) and refresh tokens that rotate. It consents at once (the
// demo plays the person at the browser) and hands out opaque access
// tokens.
//
// The demo's mail servers check a token with it in-process, the way
// Exchange Online checks the signature of an Entra ID token: they never
// call it, so the identity provider being down (its faultproxy cut) does
// not take mail down, and mail being down does not take sign-in down.
//
// Access tokens live tokenLifetime, far shorter than a real provider's
// hour, so that holdover renews one within the demo's few seconds: it
// renews 5 minutes before expiry, here at every sign-in, and cannot get a
// token while the identity provider is away.
type idProvider struct {
	clientID string
	srv      *http.Server
	ln       net.Listener

	mu       sync.Mutex
	codes    map[string]authCode  // code → what it was issued for
	refresh  map[string]string    // refresh token → user
	access   map[string]tokenInfo // access token → grant
	renewals []time.Time          // when each refresh grant was answered
}

// tokenLifetime is what the demo's access tokens live (see idProvider).
const tokenLifetime = 30 * time.Second

type authCode struct {
	user, redirect, challenge string
}

type tokenInfo struct {
	user           string
	issued, expiry time.Time
}

// demoUser is the person the identity provider signs in: it has no
// password page, the demo consents for them.
const demoUser = "you@example.com"

func startIdP(clientID string) (*idProvider, error) {
	p := &idProvider{clientID: clientID, codes: map[string]authCode{}, refresh: map[string]string{}, access: map[string]tokenInfo{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	var err error
	if p.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(p.ln)
	return p, nil
}

func (p *idProvider) addr() string { return p.ln.Addr().String() }

func (p *idProvider) close() { p.srv.Close() }

// authorize consents at once and sends the browser back to the client's
// loopback redirect (RFC 8252) with a one-time code bound to the PKCE
// challenge.
func (p *idProvider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	redirect, err := url.Parse(q.Get("redirect_uri"))
	switch {
	case q.Get("client_id") != p.clientID:
		http.Error(w, "unknown client", http.StatusBadRequest)
		return
	case err != nil || redirect.Scheme != "http" || redirect.Hostname() != "127.0.0.1":
		// Only a loopback redirect: the code must not leave the machine.
		http.Error(w, "redirect_uri must be http://127.0.0.1:PORT/", http.StatusBadRequest)
		return
	}
	back := redirect.Query()
	back.Set("state", q.Get("state"))
	if q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" {
		back.Set("error", "invalid_request")
		back.Set("error_description", "the demo's identity provider wants the code flow with PKCE S256")
	} else {
		code := secret()
		p.mu.Lock()
		p.codes[code] = authCode{user: demoUser, redirect: q.Get("redirect_uri"), challenge: q.Get("code_challenge")}
		p.mu.Unlock()
		back.Set("code", code)
	}
	redirect.RawQuery = back.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

// token answers the authorization_code and refresh_token grants.
func (p *idProvider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("client_id") != p.clientID {
		tokenError(w, "invalid_client")
		return
	}
	f := r.PostForm
	p.mu.Lock()
	defer p.mu.Unlock()
	var user string
	switch f.Get("grant_type") {
	case "authorization_code":
		c, ok := p.codes[f.Get("code")]
		delete(p.codes, f.Get("code")) // one use, even a failed one
		sum := sha256.Sum256([]byte(f.Get("code_verifier")))
		verifier := base64.RawURLEncoding.EncodeToString(sum[:])
		if !ok || c.redirect != f.Get("redirect_uri") || subtle.ConstantTimeCompare([]byte(verifier), []byte(c.challenge)) != 1 {
			tokenError(w, "invalid_grant")
			return
		}
		user = c.user
	case "refresh_token":
		var ok bool
		if user, ok = p.refresh[f.Get("refresh_token")]; !ok {
			tokenError(w, "invalid_grant")
			return
		}
		// Rotation: the old refresh token is void from now on, so a
		// client must keep the new one before it uses the access token.
		delete(p.refresh, f.Get("refresh_token"))
		p.renewals = append(p.renewals, time.Now())
	default:
		tokenError(w, "unsupported_grant_type")
		return
	}
	access, refresh, now := secret(), secret(), time.Now()
	p.access[access] = tokenInfo{user: user, issued: now, expiry: now.Add(tokenLifetime)}
	p.refresh[refresh] = user
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(map[string]any{
		"access_token": access, "token_type": "Bearer", "expires_in": int(tokenLifetime / time.Second), "refresh_token": refresh,
	})
}

func tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// check reports whether token is a live access token of user, and when
// it was issued.
func (p *idProvider) check(user, token string) (issued time.Time, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, found := p.access[token]
	if !found || t.user != user || time.Now().After(t.expiry) {
		return time.Time{}, false
	}
	return t.issued, true
}

// renewedSince counts the refresh grants answered since t.
func (p *idProvider) renewedSince(t time.Time) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, r := range p.renewals {
		if !r.Before(t) {
			n++
		}
	}
	return n
}
