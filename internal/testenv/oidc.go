package testenv

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"
)

// OIDC is an OAuth2/OpenID Connect identity provider for tests, in the test
// process, built on github.com/oauth2-proxy/mockoidc: authorization code
// with PKCE, refresh, userinfo, discovery and JWKS are mockoidc's own; this
// wrapper fronts them to add what mockoidc lacks: the device grant (RFC
// 8628), refresh-token revocation, token-endpoint faults and counters,
// per-test users, an outage (Stop/Restart on the same port) and a token
// validation endpoint for the test mail servers.
//
// Two listeners, on purpose:
//
//   - the identity provider (Issuer, AuthURL, TokenURL, UserinfoURL,
//     DeviceAuthURL): Stop and Restart take it down and up, and the token
//     faults apply to it;
//   - the validation endpoint (ValidationURL), which Dovecot and the SMTP
//     sink ask about each token they are shown. It stays up while the
//     identity provider is stopped, as at Microsoft and Google, whose mail
//     servers check tokens themselves: a still-valid access token keeps
//     working through a sign-in outage, an expired or foreign one never
//     does.
//
// Users are plain names: a token minted or granted for "alice" has subject
// (sub) "alice", which is what the validation endpoint answers and what the
// mail servers take as the login name.
//
// Invariants: every call into mockoidc runs under one mutex (its session
// store is a bare map); both listeners bind 127.0.0.1 only; everything
// stops when the test ends.
type OIDC struct {
	ClientID     string
	ClientSecret string
	Host         string // always 127.0.0.1
	Port         int    // the identity provider's port, the same after Restart

	m         *mockoidc.MockOIDC
	handler   http.Handler
	validator *httptest.Server

	mu          sync.Mutex // guards m and everything below
	srv         *http.Server
	served      chan struct{} // closed when srv's Serve returns
	defaultUser string
	denyNext    bool
	fault       TokenFault
	revoked     map[string]bool // session IDs (jti) whose refresh token is revoked
	devices     map[string]*deviceGrant
	interval    time.Duration
	tokenReqs   int
	refreshReqs int
	validations int
}

// TokenFault makes the token endpoint misbehave (see [OIDC.SetTokenFault]).
type TokenFault int

const (
	TokenOK   TokenFault = iota // answer normally
	TokenHTML                   // 200 with an HTML page (a captive portal, a proxy's sign-in page)
	Token500                    // 500 Internal Server Error, plain text
)

// IssuedToken is a token pair the identity provider issued.
type IssuedToken struct {
	AccessToken  string
	RefreshToken string
	Expiry       time.Time // of the access token
}

// Paths of the endpoints this wrapper adds beside mockoidc's.
const (
	oidcDeviceAuthPath   = mockoidc.IssuerBase + "/device_authorization"
	oidcDeviceVerifyPath = mockoidc.IssuerBase + "/device"
	oidcValidatePath     = "/validate"
	deviceGrantType      = "urn:ietf:params:oauth:grant-type:device_code"
)

// oidcScopesOnce widens mockoidc's scope list (a package variable) once,
// before any server reads it: providers' mail scopes must not be refused
// at the authorization endpoint.
var oidcScopesOnce sync.Once

// StartOIDC starts an identity provider on 127.0.0.1 (random port) with a
// random client ID and secret, access tokens valid 10 minutes, refresh
// tokens 1 hour, a device-code polling interval of 1 s and "holdover" as
// the user who signs in when the test queued no other. It stops when the
// test ends.
func StartOIDC(t testing.TB) *OIDC {
	t.Helper()
	oidcScopesOnce.Do(func() {
		mockoidc.ScopesSupported = append(mockoidc.ScopesSupported,
			"offline_access", "https://mail.google.com/",
			"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send")
	})
	m, err := mockoidc.NewServer(nil)
	if err != nil {
		t.Fatalf("testenv: oidc: %v", err)
	}
	// KeyID fills a cache on first use; fill it now, not in a handler.
	if _, err := m.Keypair.KeyID(); err != nil {
		t.Fatalf("testenv: oidc: %v", err)
	}
	o := &OIDC{
		ClientID: m.ClientID, ClientSecret: m.ClientSecret, Host: "127.0.0.1",
		m: m, defaultUser: "holdover", interval: time.Second,
		revoked: map[string]bool{}, devices: map[string]*deviceGrant{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(mockoidc.AuthorizationEndpoint, o.authorize)
	mux.HandleFunc(mockoidc.TokenEndpoint, o.token)
	mux.HandleFunc(mockoidc.DiscoveryEndpoint, o.discovery)
	mux.HandleFunc(mockoidc.UserinfoEndpoint, o.locked(m.Userinfo))
	mux.HandleFunc(mockoidc.JWKSEndpoint, o.locked(m.JWKS))
	mux.HandleFunc(oidcDeviceAuthPath, o.deviceAuthorization)
	mux.HandleFunc(oidcDeviceVerifyPath, o.deviceVerify)
	o.handler = mux

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: oidc: %v", err)
	}
	o.Port = ln.Addr().(*net.TCPAddr).Port
	// mockoidc derives its issuer (the iss claim) from Server.Addr; the
	// server that really serves is ours, so it survives Stop and Restart.
	m.Server = &http.Server{Addr: ln.Addr().String()}
	o.serve(ln)
	t.Cleanup(o.Stop)

	o.validator = httptest.NewUnstartedServer(http.HandlerFunc(o.validate))
	o.validator.Start()
	t.Cleanup(o.validator.Close)
	return o
}

func (o *OIDC) serve(ln net.Listener) {
	srv := &http.Server{Handler: o.handler, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	o.mu.Lock()
	o.srv, o.served = srv, served
	o.mu.Unlock()
}

// Stop takes the identity provider down at once (connections refused):
// a sign-in outage. Issued tokens, users and counters are kept, and the
// validation endpoint stays up.
func (o *OIDC) Stop() {
	o.mu.Lock()
	srv, served := o.srv, o.served
	o.srv = nil
	o.mu.Unlock()
	if srv == nil {
		return
	}
	_ = srv.Close()
	<-served
}

// Restart brings a stopped identity provider back on the same port, with
// the same keys, sessions and revocations (the end of an outage).
func (o *OIDC) Restart(t testing.TB) {
	t.Helper()
	o.Stop()
	var ln net.Listener
	var err error
	// The port was ours a moment ago; a closing socket may hold it briefly.
	for deadline := time.Now().Add(ReadyTimeout); ; {
		ln, err = net.Listen("tcp", net.JoinHostPort(o.Host, strconv.Itoa(o.Port)))
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("testenv: oidc restart on port %d: %v", o.Port, err)
	}
	o.serve(ln)
}

// Addr returns "http://127.0.0.1:<port>".
func (o *OIDC) Addr() string { return "http://" + net.JoinHostPort(o.Host, strconv.Itoa(o.Port)) }

// Issuer is the iss of every token and the base of the discovery URL.
func (o *OIDC) Issuer() string { return o.Addr() + mockoidc.IssuerBase }

// DiscoveryURL is the OpenID configuration document, which also names the
// device authorization endpoint.
func (o *OIDC) DiscoveryURL() string { return o.Addr() + mockoidc.DiscoveryEndpoint }

// AuthURL is the authorization endpoint (code flow, PKCE plain or S256).
func (o *OIDC) AuthURL() string { return o.Addr() + mockoidc.AuthorizationEndpoint }

// TokenURL is the token endpoint (authorization_code, refresh_token and
// the device_code grant). Client credentials may come as form fields or
// HTTP Basic; a client sending no secret is taken for a public client
// and accepted, a wrong secret is refused.
func (o *OIDC) TokenURL() string { return o.Addr() + mockoidc.TokenEndpoint }

// UserinfoURL is the userinfo endpoint (Authorization: Bearer).
func (o *OIDC) UserinfoURL() string { return o.Addr() + mockoidc.UserinfoEndpoint }

// DeviceAuthURL is the device authorization endpoint (RFC 8628).
func (o *OIDC) DeviceAuthURL() string { return o.Addr() + oidcDeviceAuthPath }

// DeviceVerificationURL is where a person enters a user code; a POST with
// the form field user_code approves it for the default user (the test
// playing the browser).
func (o *OIDC) DeviceVerificationURL() string { return o.Addr() + oidcDeviceVerifyPath }

// ValidationURL is the endpoint mail servers ask about a token (GET with
// Authorization: Bearer): 200 with {"sub": user, ...} for a token this
// provider issued that has not expired, 401 otherwise.
func (o *OIDC) ValidationURL() string { return o.validator.URL + oidcValidatePath }

// SetDefaultUser names who signs in at the authorization endpoint when no
// user was queued.
func (o *OIDC) SetDefaultUser(user string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.defaultUser = user
}

// QueueUser makes the next authorization sign in as user.
func (o *OIDC) QueueUser(user string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m.QueueUser(oidcUser(user))
}

// DenyNextAuthorization makes the next authorization redirect back with
// error=access_denied (the person clicked "Cancel").
func (o *OIDC) DenyNextAuthorization() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.denyNext = true
}

// SetAccessTTL sets the lifetime of access tokens issued from now on
// (whole seconds; tokens carry expiry to the second).
func (o *OIDC) SetAccessTTL(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m.AccessTTL = d
}

// FastForward moves the provider's clock forward, so tokens it issued
// expire sooner in its eyes (and so at the validation endpoint), without
// sleeping.
func (o *OIDC) FastForward(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.m.FastForward(d)
}

// SetTokenFault makes every later token request fail as f (until TokenOK).
// Requests are still counted.
func (o *OIDC) SetTokenFault(f TokenFault) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault = f
}

// SetDeviceInterval sets the polling interval given to device grants
// started from now on (default 1 s).
func (o *OIDC) SetDeviceInterval(d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.interval = d
}

// TokenRequests counts every request to the token endpoint, of any
// grant, including refused and faulted ones.
func (o *OIDC) TokenRequests() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.tokenReqs
}

// RefreshRequests counts token requests with grant_type=refresh_token.
func (o *OIDC) RefreshRequests() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.refreshReqs
}

// Validations counts requests to the validation endpoint.
func (o *OIDC) Validations() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.validations
}

// Mint issues a token pair for user directly, as if the user had signed
// in (scopes openid, email, profile, offline_access).
func (o *OIDC) Mint(t testing.TB, user string) IssuedToken {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	tok, err := o.mintAt(user, o.m.Now())
	if err != nil {
		t.Fatalf("testenv: oidc: mint: %v", err)
	}
	return tok
}

// MintExpired is Mint with an access token that expired a minute ago; its
// refresh token is good.
func (o *OIDC) MintExpired(t testing.TB, user string) IssuedToken {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	now := o.m.Now()
	tok, err := o.mintAt(user, now.Add(-o.m.AccessTTL-time.Minute))
	if err != nil {
		t.Fatalf("testenv: oidc: mint: %v", err)
	}
	// A refresh token issued in the past would expire early too: reissue
	// it now, for the same session.
	sess, err := o.m.SessionStore.GetSessionByID(o.jti(tok.AccessToken))
	if err != nil {
		t.Fatalf("testenv: oidc: mint: %v", err)
	}
	if tok.RefreshToken, err = sess.RefreshToken(o.m.Config(), o.m.Keypair, now); err != nil {
		t.Fatalf("testenv: oidc: mint: %v", err)
	}
	return tok
}

// mintAt runs with o.mu held.
func (o *OIDC) mintAt(user string, at time.Time) (IssuedToken, error) {
	sess, err := o.m.SessionStore.NewSession("openid email profile offline_access", "", oidcUser(user), "", "")
	if err != nil {
		return IssuedToken{}, err
	}
	cfg := o.m.Config()
	access, err := sess.AccessToken(cfg, o.m.Keypair, at)
	if err != nil {
		return IssuedToken{}, err
	}
	refresh, err := sess.RefreshToken(cfg, o.m.Keypair, at)
	if err != nil {
		return IssuedToken{}, err
	}
	return IssuedToken{AccessToken: access, RefreshToken: refresh, Expiry: at.Add(cfg.AccessTTL).Truncate(time.Second)}, nil
}

// Revoke revokes a refresh token (and so its session's): refreshing with
// it answers invalid_grant from now on. Access tokens already issued stay
// valid until they expire, as at real providers.
func (o *OIDC) Revoke(t testing.TB, refreshToken string) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	id := o.jti(refreshToken)
	if id == "" {
		t.Fatalf("testenv: oidc: revoke: not a token this provider issued")
	}
	o.revoked[id] = true
}

// jti returns a token's session ID when the token carries this provider's
// signature (expired or not), else "". Called with o.mu held.
func (o *OIDC) jti(token string) string {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) {
		return o.m.Keypair.PublicKey, nil
	}, jwt.WithoutClaimsValidation(), jwt.WithValidMethods([]string{"RS256"}))
	if err != nil {
		return ""
	}
	id, _ := claims["jti"].(string)
	return id
}

// Validate asks the validation endpoint about token, as a mail server
// does, and returns the user it belongs to.
func (o *OIDC) Validate(token string) (user string, err error) {
	req, err := http.NewRequest(http.MethodGet, o.ValidationURL(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := o.validator.Client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token refused (%d)", resp.StatusCode)
	}
	var info struct {
		Sub string `json:"sub"`
	}
	if err := json.Unmarshal(body, &info); err != nil || info.Sub == "" {
		return "", errors.New("token refused (no subject)")
	}
	return info.Sub, nil
}

// oidcUser is the mockoidc user for a plain name: sub and
// preferred_username are the name.
func oidcUser(name string) *mockoidc.MockUser {
	return &mockoidc.MockUser{Subject: name, PreferredUsername: name, Email: name + "@example.test", EmailVerified: true}
}

// locked serialises a mockoidc handler.
func (o *OIDC) locked(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		o.mu.Lock()
		defer o.mu.Unlock()
		h(w, r)
	}
}

func (o *OIDC) validate(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.validations++
	if r.URL.Path != oidcValidatePath {
		http.NotFound(w, r)
		return
	}
	// mockoidc's userinfo checks signature, expiry and session; its 500
	// for an unknown session is a refusal here.
	if tok := r.URL.Query().Get("access_token"); tok != "" && r.Header.Get("Authorization") == "" {
		r.Header.Set("Authorization", "Bearer "+tok)
	}
	rec := httptest.NewRecorder()
	o.m.Userinfo(rec, r)
	if rec.Code != http.StatusOK {
		oauthError(w, http.StatusUnauthorized, "invalid_token", "token not valid")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(rec.Body.Bytes())
}

func (o *OIDC) authorize(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.denyNext {
		if err := r.ParseForm(); err == nil && r.Form.Get("redirect_uri") != "" {
			o.denyNext = false
			u := r.Form.Get("redirect_uri")
			sep := "?"
			if strings.Contains(u, "?") {
				sep = "&"
			}
			http.Redirect(w, r, u+sep+"error=access_denied&state="+url.QueryEscape(r.Form.Get("state")), http.StatusFound)
			return
		}
	}
	q := o.m.UserQueue
	q.Lock()
	empty := len(q.Queue) == 0
	q.Unlock()
	if empty {
		o.m.QueueUser(oidcUser(o.defaultUser))
	}
	o.m.Authorize(w, r)
}

func (o *OIDC) discovery(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	rec := httptest.NewRecorder()
	o.m.Discovery(rec, r)
	doc := map[string]any{}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	doc["device_authorization_endpoint"] = o.DeviceAuthURL()
	doc["grant_types_supported"] = append(append([]string(nil), mockoidc.GrantTypesSupported...), deviceGrantType)
	writeJSON(w, http.StatusOK, doc)
}

func (o *OIDC) token(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.tokenReqs++
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	// mockoidc reads client credentials from the form only; HTTP Basic
	// (RFC 6749 §2.3.1's preferred way) is moved there.
	if id, secret, ok := r.BasicAuth(); ok && r.Form.Get("client_id") == "" {
		r.Form.Set("client_id", id)
		r.Form.Set("client_secret", secret)
	}
	// A client without a secret is a public client (a native app, RFC
	// 8252, as Microsoft's and Google's desktop registrations are):
	// accepted. mockoidc insists on the secret, so it is filled in; a
	// wrong one is still refused.
	if r.Form.Get("client_id") == o.ClientID && r.Form.Get("client_secret") == "" {
		r.Form.Set("client_secret", o.ClientSecret)
	}
	grant := r.Form.Get("grant_type")
	if grant == "refresh_token" {
		o.refreshReqs++
	}
	switch o.fault {
	case TokenHTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, "<!DOCTYPE html><html><head><title>Sign in</title></head><body><p>Please sign in to continue.</p></body></html>\n")
		return
	case Token500:
		http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		return
	}
	switch grant {
	case deviceGrantType:
		o.deviceToken(w, r)
		return
	case "refresh_token":
		id := o.jti(r.Form.Get("refresh_token"))
		if id == "" || o.revoked[id] {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token is invalid, expired or revoked")
			return
		}
		if _, err := o.m.Keypair.VerifyJWT(r.Form.Get("refresh_token"), o.m.Now); err != nil {
			oauthError(w, http.StatusBadRequest, "invalid_grant", "the refresh token expired")
			return
		}
	}
	rec := httptest.NewRecorder()
	o.m.Token(rec, r)
	o.relayToken(w, rec)
}

// relayToken copies mockoidc's token response, with expires_in in
// seconds as RFC 6749 §5.1 says (mockoidc writes a time.Duration, that is
// nanoseconds, which clients would read as a token valid for centuries).
func (o *OIDC) relayToken(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	if rec.Code != http.StatusOK {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
		return
	}
	doc := map[string]any{}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	doc["expires_in"] = int64(o.m.AccessTTL / time.Second)
	writeJSON(w, http.StatusOK, doc)
}

func oauthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(v); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
