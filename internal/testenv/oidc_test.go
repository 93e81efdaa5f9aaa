package testenv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// oauthConfig is how a client (golang.org/x/oauth2, as holdover uses)
// talks to o.
func oauthConfig(o *OIDC, redirect string) *oauth2.Config {
	return &oauth2.Config{
		ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL: o.AuthURL(), TokenURL: o.TokenURL(), DeviceAuthURL: o.DeviceAuthURL(),
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: redirect,
		Scopes:      []string{"openid", "email", "profile", "offline_access"},
	}
}

// browse plays the browser: it opens the authorization URL and returns
// the query of the redirect it is sent to.
func browse(t *testing.T, authURL string) url.Values {
	t.Helper()
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(authURL)
	if err != nil {
		t.Fatalf("authorize: %v", err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != http.StatusFound || err != nil {
		t.Fatalf("authorize: status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	return loc.Query()
}

func TestOIDCAuthorizationCodeWithPKCEGivesTokensTheValidationEndpointAccepts(t *testing.T) {
	o := StartOIDC(t)
	o.QueueUser("alice")
	cfg := oauthConfig(o, "http://127.0.0.1:9/callback")
	verifier := oauth2.GenerateVerifier()
	q := browse(t, cfg.AuthCodeURL("st4te", oauth2.S256ChallengeOption(verifier)))
	if q.Get("state") != "st4te" || q.Get("code") == "" {
		t.Fatalf("redirect query = %v, want the state back and a code", q)
	}
	ctx := context.Background()
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if tok.RefreshToken == "" {
		t.Fatal("no refresh token")
	}
	// expires_in is in seconds (mockoidc alone would say nanoseconds).
	if left := time.Until(tok.Expiry); left < 9*time.Minute || left > 11*time.Minute {
		t.Fatalf("access token expires in %v, want about 10 minutes", left)
	}
	if user, err := o.Validate(tok.AccessToken); err != nil || user != "alice" {
		t.Fatalf("Validate = %q, %v; want alice", user, err)
	}
	// With no user queued, the default one signs in; a wrong PKCE
	// verifier is refused.
	q = browse(t, cfg.AuthCodeURL("s2", oauth2.S256ChallengeOption(verifier)))
	if _, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Fatal("exchange with a wrong PKCE verifier succeeded")
	}
	q = browse(t, cfg.AuthCodeURL("s3", oauth2.S256ChallengeOption(verifier)))
	tok, err = cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if user, _ := o.Validate(tok.AccessToken); user != "holdover" {
		t.Fatalf("second sign-in is %q, want the default user holdover", user)
	}
	if o.TokenRequests() != 3 {
		t.Fatalf("TokenRequests = %d, want 3", o.TokenRequests())
	}
}

func TestOIDCDeniedAuthorizationRedirectsWithAccessDenied(t *testing.T) {
	o := StartOIDC(t)
	o.DenyNextAuthorization()
	q := browse(t, oauthConfig(o, "http://127.0.0.1:9/cb").AuthCodeURL("s"))
	if q.Get("error") != "access_denied" || q.Get("state") != "s" || q.Get("code") != "" {
		t.Fatalf("redirect query = %v, want error=access_denied and the state", q)
	}
}

func TestOIDCRefreshUntilRevokedThenInvalidGrant(t *testing.T) {
	o := StartOIDC(t)
	minted := o.Mint(t, "alice")
	cfg := oauthConfig(o, "")
	ctx := context.Background()
	old := &oauth2.Token{AccessToken: minted.AccessToken, RefreshToken: minted.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	tok, err := cfg.TokenSource(ctx, old).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if user, err := o.Validate(tok.AccessToken); err != nil || user != "alice" {
		t.Fatalf("refreshed token: Validate = %q, %v", user, err)
	}
	o.Revoke(t, minted.RefreshToken)
	_, err = cfg.TokenSource(ctx, old).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Fatalf("refresh after revocation: %v, want invalid_grant", err)
	}
	if o.RefreshRequests() != 2 || o.TokenRequests() != 2 {
		t.Fatalf("RefreshRequests = %d, TokenRequests = %d, want 2 and 2", o.RefreshRequests(), o.TokenRequests())
	}
	// Access tokens already issued stay good until they expire.
	if _, err := o.Validate(tok.AccessToken); err != nil {
		t.Fatalf("access token after revocation: %v", err)
	}
}

func TestOIDCValidationRefusesExpiredAndForeignTokens(t *testing.T) {
	o := StartOIDC(t)
	other := StartOIDC(t)
	for name, tok := range map[string]string{
		"expired":               o.MintExpired(t, "alice").AccessToken,
		"issued by another one": other.Mint(t, "alice").AccessToken,
		"not a token":           "nonsense",
	} {
		if user, err := o.Validate(tok); err == nil {
			t.Errorf("%s token: Validate = %q, want a refusal", name, user)
		}
	}
	o.SetAccessTTL(2 * time.Second)
	short := o.Mint(t, "alice")
	if _, err := o.Validate(short.AccessToken); err != nil {
		t.Fatalf("fresh short-lived token: %v", err)
	}
	if left := time.Until(short.Expiry); left > 2*time.Second {
		t.Fatalf("Expiry in %v, want at most 2s", left)
	}
	o.FastForward(3 * time.Second)
	if _, err := o.Validate(short.AccessToken); err == nil {
		t.Fatal("short-lived token still valid after its lifetime")
	}
	if o.Validations() != 5 {
		t.Fatalf("Validations = %d, want 5", o.Validations())
	}
}

func TestOIDCTokenEndpointFaults(t *testing.T) {
	o := StartOIDC(t)
	minted := o.Mint(t, "alice")
	old := &oauth2.Token{RefreshToken: minted.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	cfg := oauthConfig(o, "")
	for _, tc := range []struct {
		fault TokenFault
		want  string // in the client's error
	}{
		{TokenHTML, "cannot parse"},
		{Token500, "500"},
	} {
		o.SetTokenFault(tc.fault)
		_, err := cfg.TokenSource(context.Background(), old).Token()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fault %d: err = %v, want it to mention %q", tc.fault, err, tc.want)
		}
	}
	o.SetTokenFault(TokenOK)
	if _, err := cfg.TokenSource(context.Background(), old).Token(); err != nil {
		t.Fatalf("after the fault: %v", err)
	}
	if o.TokenRequests() != 3 {
		t.Fatalf("TokenRequests = %d, want 3 (faulted ones count)", o.TokenRequests())
	}
}

func TestOIDCStopRefusesConnectionsAndRestartComesBackOnTheSamePort(t *testing.T) {
	o := StartOIDC(t)
	minted := o.Mint(t, "alice")
	port := o.Port
	o.Stop()
	if _, err := http.Get(o.DiscoveryURL()); err == nil {
		t.Fatal("discovery answered while stopped")
	}
	// The mail servers' validation stays up through a sign-in outage.
	if _, err := o.Validate(minted.AccessToken); err != nil {
		t.Fatalf("Validate while stopped: %v", err)
	}
	o.Restart(t)
	if o.Port != port {
		t.Fatalf("port %d after restart, want %d", o.Port, port)
	}
	old := &oauth2.Token{RefreshToken: minted.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	if _, err := oauthConfig(o, "").TokenSource(context.Background(), old).Token(); err != nil {
		t.Fatalf("refresh after restart: %v", err)
	}
}

func TestOIDCDiscoveryNamesEveryEndpoint(t *testing.T) {
	o := StartOIDC(t)
	resp, err := http.Get(o.DiscoveryURL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"issuer": o.Issuer(), "authorization_endpoint": o.AuthURL(), "token_endpoint": o.TokenURL(),
		"userinfo_endpoint": o.UserinfoURL(), "device_authorization_endpoint": o.DeviceAuthURL(),
	} {
		if doc[key] != want {
			t.Errorf("%s = %v, want %s", key, doc[key], want)
		}
	}
}

func TestOIDCDeviceGrantPendingSlowDownThenTokens(t *testing.T) {
	o := StartOIDC(t)
	o.SetDeviceInterval(200 * time.Millisecond)
	cfg := oauthConfig(o, "")
	ctx := context.Background()
	da, err := cfg.DeviceAuth(ctx, oauth2.SetAuthURLParam("scope", "openid profile offline_access"))
	if err != nil {
		t.Fatalf("device authorization: %v", err)
	}
	if da.UserCode == "" || da.VerificationURI != o.DeviceVerificationURL() || da.Interval < 1 {
		t.Fatalf("device authorization = %+v", da)
	}
	if got := o.PendingDeviceCodes(); len(got) != 1 || got[0] != da.UserCode {
		t.Fatalf("PendingDeviceCodes = %v, want [%s]", got, da.UserCode)
	}
	poll := func() string {
		resp, err := http.PostForm(o.TokenURL(), url.Values{
			"grant_type": {deviceGrantType}, "device_code": {da.DeviceCode}, "client_id": {o.ClientID},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var doc map[string]any
		_ = json.Unmarshal(body, &doc)
		if e, ok := doc["error"].(string); ok {
			return e
		}
		if doc["access_token"] == nil || doc["refresh_token"] == nil {
			t.Fatalf("token response without tokens: %s", body)
		}
		return "tokens"
	}
	if got := poll(); got != "authorization_pending" {
		t.Fatalf("first poll = %s, want authorization_pending", got)
	}
	if got := poll(); got != "slow_down" {
		t.Fatalf("immediate second poll = %s, want slow_down", got)
	}
	// The person enters the code on the verification page.
	resp, err := http.PostForm(o.DeviceVerificationURL(), url.Values{"user_code": {da.UserCode}})
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("verification page: %v %v", resp, err)
	}
	resp.Body.Close()
	// The interval grew by 5 s after slow_down: a client that honours it
	// (x/oauth2 does) gets the tokens; waiting is skipped here by
	// fast-forwarding the provider's clock.
	o.FastForward(6 * time.Second)
	if got := poll(); got != "tokens" {
		t.Fatalf("poll after approval = %s, want tokens", got)
	}
	o.FastForward(6 * time.Second)
	if got := poll(); got != "invalid_grant" {
		t.Fatalf("reused device code = %s, want invalid_grant", got)
	}
}

func TestOIDCDeviceGrantWithXOAuth2Client(t *testing.T) {
	o := StartOIDC(t)
	o.SetDeviceInterval(10 * time.Millisecond)
	cfg := oauthConfig(o, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	da, err := cfg.DeviceAuth(ctx)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(300 * time.Millisecond)
		_ = o.ApproveDevice(da.UserCode, "bob")
	}()
	// x/oauth2 polls at the announced interval (1 s, the minimum).
	tok, err := cfg.DeviceAccessToken(ctx, da)
	if err != nil {
		t.Fatalf("DeviceAccessToken: %v", err)
	}
	if user, err := o.Validate(tok.AccessToken); err != nil || user != "bob" {
		t.Fatalf("Validate = %q, %v; want bob", user, err)
	}
	if err := o.DenyDevice(da.UserCode); err == nil {
		t.Fatal("DenyDevice of a used code succeeded")
	}
}

func TestOIDCAcceptsPublicClientsAndRefusesAWrongSecret(t *testing.T) {
	o := StartOIDC(t)
	minted := o.Mint(t, "alice")
	old := &oauth2.Token{RefreshToken: minted.RefreshToken, Expiry: time.Now().Add(-time.Minute)}
	public := oauthConfig(o, "")
	public.ClientSecret = ""
	public.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	if _, err := public.TokenSource(context.Background(), old).Token(); err != nil {
		t.Fatalf("public client refresh: %v", err)
	}
	wrong := oauthConfig(o, "")
	wrong.ClientSecret = "not-the-secret"
	var re *oauth2.RetrieveError
	if _, err := wrong.TokenSource(context.Background(), old).Token(); !errors.As(err, &re) || re.ErrorCode != "invalid_client" {
		t.Fatalf("wrong secret: %v, want invalid_client", err)
	}
}
