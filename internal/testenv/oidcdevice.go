package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"
)

// The device authorization grant (RFC 8628), which mockoidc lacks.
//
// A client POSTs client_id and scope to DeviceAuthURL and gets a
// device_code, a user_code, the verification URI and a polling interval.
// It then polls the token endpoint with grant_type
// urn:ietf:params:oauth:grant-type:device_code: the answer is
// authorization_pending until the test approves the user code
// (ApproveDevice, or a POST to DeviceVerificationURL), slow_down when it
// polls sooner than the interval (which then grows by 5 s, as §3.5 says),
// access_denied after DenyDevice, expired_token after 10 minutes, and the
// token pair once approved. A device code is good for one token response.

// deviceExpiry is how long a device code may be polled.
const deviceExpiry = 10 * time.Minute

type deviceGrant struct {
	deviceCode string
	userCode   string
	scope      string
	interval   time.Duration
	lastPoll   time.Time
	expires    time.Time
	user       string // set when approved
	denied     bool
	used       bool
}

// PendingDeviceCodes returns the user codes of device grants waiting for
// approval, sorted.
func (o *OIDC) PendingDeviceCodes() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var codes []string
	for _, g := range o.devices {
		if g.user == "" && !g.denied && !g.used {
			codes = append(codes, g.userCode)
		}
	}
	sort.Strings(codes)
	return codes
}

// ApproveDevice approves the grant with userCode for user: its next poll
// gets the tokens.
func (o *OIDC) ApproveDevice(userCode, user string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.deviceByUserCode(userCode)
	if g == nil {
		return errors.New("testenv: oidc: no pending device grant with user code " + userCode)
	}
	g.user = user
	return nil
}

// DenyDevice refuses the grant with userCode: its next poll gets
// access_denied.
func (o *OIDC) DenyDevice(userCode string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	g := o.deviceByUserCode(userCode)
	if g == nil {
		return errors.New("testenv: oidc: no pending device grant with user code " + userCode)
	}
	g.denied = true
	return nil
}

// deviceByUserCode runs with o.mu held.
func (o *OIDC) deviceByUserCode(userCode string) *deviceGrant {
	norm := strings.ToUpper(strings.ReplaceAll(userCode, "-", ""))
	for _, g := range o.devices {
		if strings.ReplaceAll(g.userCode, "-", "") == norm && g.user == "" && !g.denied && !g.used {
			return g
		}
	}
	return nil
}

func (o *OIDC) deviceAuthorization(w http.ResponseWriter, r *http.Request) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if r.Method != http.MethodPost {
		oauthError(w, http.StatusMethodNotAllowed, "invalid_request", "POST only")
		return
	}
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	id := r.Form.Get("client_id")
	if basicID, _, ok := r.BasicAuth(); ok && id == "" {
		id = basicID
	}
	if id != o.ClientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id")
		return
	}
	g := &deviceGrant{
		deviceCode: randomToken(20),
		userCode:   userCode(),
		scope:      r.Form.Get("scope"),
		interval:   o.interval,
		expires:    o.m.Now().Add(deviceExpiry),
	}
	o.devices[g.deviceCode] = g
	verify := o.DeviceVerificationURL()
	writeJSON(w, http.StatusOK, map[string]any{
		"device_code":               g.deviceCode,
		"user_code":                 g.userCode,
		"verification_uri":          verify,
		"verification_uri_complete": verify + "?user_code=" + url.QueryEscape(g.userCode),
		"expires_in":                int64(deviceExpiry / time.Second),
		// RFC 8628 counts in whole seconds; a sub-second test interval
		// is announced as 1 and enforced as set.
		"interval": max(int64(g.interval/time.Second), 1),
	})
}

// deviceVerify is the page a person opens: a POST with user_code approves
// it for the default user.
func (o *OIDC) deviceVerify(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!DOCTYPE html><form method="post"><input name="user_code"><button>Continue</button></form>` + "\n"))
		return
	}
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	o.mu.Lock()
	user := o.defaultUser
	o.mu.Unlock()
	if err := o.ApproveDevice(r.Form.Get("user_code"), user); err != nil {
		http.Error(w, "unknown or used code", http.StatusBadRequest)
		return
	}
	_, _ = w.Write([]byte("Device approved; you may close this window.\n"))
}

// deviceToken answers a device_code poll; it runs with o.mu held.
func (o *OIDC) deviceToken(w http.ResponseWriter, r *http.Request) {
	if r.Form.Get("client_id") != o.ClientID {
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client_id")
		return
	}
	g := o.devices[r.Form.Get("device_code")]
	now := o.m.Now()
	switch {
	case g == nil || g.used:
		oauthError(w, http.StatusBadRequest, "invalid_grant", "unknown or used device code")
		return
	case now.After(g.expires):
		oauthError(w, http.StatusBadRequest, "expired_token", "the device code expired")
		return
	case g.denied:
		g.used = true
		oauthError(w, http.StatusBadRequest, "access_denied", "the user refused")
		return
	}
	tooSoon := !g.lastPoll.IsZero() && now.Sub(g.lastPoll) < g.interval
	g.lastPoll = now
	if tooSoon {
		g.interval += 5 * time.Second
		oauthError(w, http.StatusBadRequest, "slow_down", "polling too often")
		return
	}
	if g.user == "" {
		oauthError(w, http.StatusBadRequest, "authorization_pending", "waiting for the user")
		return
	}
	g.used = true
	scope := g.scope
	if scope == "" {
		scope = "openid email profile offline_access"
	}
	sess, err := o.m.SessionStore.NewSession(scope, "", oidcUser(g.user), "", "")
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	cfg := o.m.Config()
	doc := map[string]any{"token_type": "Bearer", "expires_in": int64(cfg.AccessTTL / time.Second), "scope": scope}
	for name, mint := range map[string]func() (string, error){
		"access_token":  func() (string, error) { return sess.AccessToken(cfg, o.m.Keypair, now) },
		"refresh_token": func() (string, error) { return sess.RefreshToken(cfg, o.m.Keypair, now) },
	} {
		tok, err := mint()
		if err != nil {
			oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
			return
		}
		doc[name] = tok
	}
	writeJSON(w, http.StatusOK, doc)
}

// randomToken is n random bytes, hex.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// userCode is "XXXX-XXXX" from an alphabet without look-alikes (RFC
// 8628 §6.1).
func userCode() string {
	const alphabet = "BCDFGHJKLMNPQRSTVWXZ"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	var sb strings.Builder
	for i, c := range b {
		if i == 4 {
			sb.WriteByte('-')
		}
		sb.WriteByte(alphabet[int(c)%len(alphabet)])
	}
	return sb.String()
}
