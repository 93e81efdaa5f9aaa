package oauth

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"time"

	"golang.org/x/oauth2"
)

// LoginTimeout bounds how long the browser sign-in waits for the redirect.
const LoginTimeout = 10 * time.Minute

// Browser is how LoginBrowser reaches the person signing in.
type Browser struct {
	// Open shows a URL in a browser; nil or an error leaves it to the
	// person (the URL is printed to Out in any case).
	Open func(url string) error
	Out  io.Writer
	// AuthParams are extra authorization request parameters a provider
	// needs (Google: access_type=offline, prompt=consent for a refresh
	// token).
	AuthParams map[string]string
}

// LoginBrowser signs cfg's account in with the authorization code flow,
// PKCE (S256) and a loopback redirect (RFC 8252): a one-shot listener on
// 127.0.0.1 with a port the system picks, the browser sent to the
// authorization URL, state checked. The token is saved before it
// returns. An error parameter on the redirect (access_denied) is a
// one-line error.
func LoginBrowser(ctx context.Context, cfg Config, b Browser) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("loopback listener for the sign-in redirect: %w", err)
	}
	defer ln.Close()
	oc, err := cfg.oauth2Config(ctx)
	if err != nil {
		return err
	}
	oc.RedirectURL = fmt.Sprintf("http://127.0.0.1:%d/", ln.Addr().(*net.TCPAddr).Port)
	state := randomString()
	verifier := oauth2.GenerateVerifier()
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	for k, v := range b.AuthParams {
		opts = append(opts, oauth2.SetAuthURLParam(k, v))
	}
	authURL := oc.AuthCodeURL(state, opts...)

	type answer struct {
		code string
		err  error
	}
	answers := make(chan answer, 1)
	srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r) // a favicon request must not end the sign-in
			return
		}
		q := r.URL.Query()
		var a answer
		switch {
		case q.Get("state") != state:
			a.err = errors.New("sign-in refused: the redirect's state does not match this sign-in (a stale browser tab, or a page trying to slip in another sign-in); run the login again")
		case q.Get("error") != "":
			a.err = redirectError(q.Get("error"), q.Get("error_description"))
		case q.Get("code") == "":
			a.err = errors.New("sign-in failed: the redirect carries neither a code nor an error")
		default:
			a.code = q.Get("code")
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if a.err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<!doctype html><title>holdover</title><p>%s</p>", html.EscapeString(a.err.Error()))
		} else {
			fmt.Fprint(w, "<!doctype html><title>holdover</title><p>holdover is signed in. You can close this tab.</p>")
		}
		select {
		case answers <- a:
		default: // one-shot: later requests change nothing
		}
	})}
	go srv.Serve(ln)
	defer srv.Close()

	fmt.Fprintf(b.Out, "Sign in to account %s in your browser. If it does not open, open this URL:\n\n  %s\n\n", cfg.Account, authURL)
	if b.Open != nil {
		if err := b.Open(authURL); err != nil {
			fmt.Fprintf(b.Out, "(cannot start a browser: %v)\n", err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, LoginTimeout)
	defer cancel()
	var a answer
	select {
	case a = <-answers:
	case <-ctx.Done():
		return fmt.Errorf("sign-in did not finish within %s", LoginTimeout)
	}
	if a.err != nil {
		return a.err
	}
	tok, err := oc.Exchange(cfg.httpContext(ctx), a.code, oauth2.VerifierOption(verifier))
	if err != nil {
		return fmt.Errorf("sign-in failed: %w", Classify(cfg.Account, err))
	}
	return saveLogin(cfg, tok)
}

// LoginDevice signs cfg's account in with the device authorization flow
// (RFC 8628), for machines without a browser and system services: it
// prints a URL and a code, then polls at the interval the identity
// provider asks for, slowing down when told, until the person has
// signed in, refused, or the code expired.
func LoginDevice(ctx context.Context, cfg Config, out io.Writer) error {
	if cfg.DeviceURL == "" {
		return errors.New("the identity provider has no device authorization endpoint configured (oauth2.device_url): sign in with the browser instead")
	}
	oc, err := cfg.oauth2Config(ctx)
	if err != nil {
		return err
	}
	hctx := cfg.httpContext(ctx)
	da, err := oc.DeviceAuth(hctx)
	if err != nil {
		return fmt.Errorf("device sign-in: %w", Classify(cfg.Account, err))
	}
	fmt.Fprintf(out, "To sign in account %s, open %s on any device and enter the code:\n\n  %s\n\n", cfg.Account, da.VerificationURI, da.UserCode)
	if da.VerificationURIComplete != "" {
		fmt.Fprintf(out, "(or open %s)\n", da.VerificationURIComplete)
	}
	fmt.Fprintln(out, "Waiting for the sign-in...")
	tok, err := oc.DeviceAccessToken(hctx, da)
	if err != nil {
		var re *oauth2.RetrieveError
		switch {
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil, errors.As(err, &re) && re.ErrorCode == "expired_token":
			return errors.New("device sign-in: the code expired before the sign-in finished; run the login again")
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.As(err, &re) && re.ErrorCode == "access_denied":
			return errors.New("device sign-in refused (access_denied): the sign-in was declined")
		}
		return fmt.Errorf("device sign-in: %w", Classify(cfg.Account, err))
	}
	return saveLogin(cfg, tok)
}

// redirectError is the one-line error of a redirect's error parameter.
func redirectError(code, desc string) error {
	msg := "sign-in refused (" + code + ")"
	switch code {
	case "access_denied":
		msg += ": the sign-in or the consent was declined"
	case "invalid_scope":
		msg += ": the identity provider does not grant the scopes asked for (check the app registration's API permissions)"
	}
	if desc != "" {
		msg += ": " + firstLine(desc)
	}
	return errors.New(msg)
}

// saveLogin stores a fresh sign-in. It records the current systemd
// credential, if any, as its seed, so that the older credential does not
// replace this newer sign-in.
func saveLogin(cfg Config, tok *oauth2.Token) error {
	if tok.RefreshToken == "" {
		return errors.New("the identity provider gave no refresh token: holdover could not renew access (Microsoft: add the offline_access scope; Google: the login asks for offline access)")
	}
	tf := tokenFile{AccessToken: tok.AccessToken, TokenType: tok.TokenType, RefreshToken: tok.RefreshToken, Expiry: tok.Expiry, SavedAt: time.Now()}
	if cfg.Credential != "" {
		if rt, err := readCredential(cfg.Credential); err == nil {
			tf.Seed = seedOf(rt)
		}
	}
	return writeTokenFile(cfg.path(), tf)
}

func randomString() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// firstLine cuts s at its first line and 200 characters: a description
// comes from the network.
func firstLine(s string) string {
	for i, r := range s {
		if r == '\n' || r == '\r' || i >= 200 {
			return s[:i]
		}
	}
	return s
}
