package main

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/oauth2-proxy/mockoidc"
)

const loginConfig = `data_dir: %DATA%
listen: {http: "", smtp: ""}
accounts:
  - name: work
    mail:
      imap:
        host: 127.0.0.1
        port: 1143
        tls: none
        username: me
        oauth2: &signin
          provider: custom
          client_id: %CLIENT%
          client_secret: {password_env: HOLDOVER_TEST_CLIENT_SECRET}
          auth_url: %AUTH%
          token_url: %TOKEN%
          scopes: [openid, email]
      smtp: {host: 127.0.0.1, port: 1025, tls: none, username: me, oauth2: *signin}
`

// playBrowser replaces the browser for one test: it follows the
// authorization URL to the identity provider and lands on the loopback
// redirect, as a person's browser does.
func playBrowser(t *testing.T) {
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }, Timeout: 10 * time.Second}
	old := openURL
	openURL = func(u string) error {
		go func() {
			resp, err := noRedirect.Get(u)
			if err != nil {
				t.Errorf("authorize: %v", err)
				return
			}
			resp.Body.Close()
			resp, err = noRedirect.Get(resp.Header.Get("Location"))
			if err != nil {
				t.Errorf("redirect: %v", err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}()
		return nil
	}
	t.Cleanup(func() { openURL = old })
}

func TestAccountLoginEndToEndThenConfigShowAndStatusShowNoToken(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	dir := t.TempDir()
	dataDir := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	text := strings.NewReplacer("%DATA%", dataDir, "%CLIENT%", m.ClientID, "%AUTH%", m.AuthorizationEndpoint(), "%TOKEN%", m.TokenEndpoint()).Replace(loginConfig)
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOLDOVER_TEST_CLIENT_SECRET", m.ClientSecret)
	playBrowser(t)

	code, out, errOut := cli(t, "--config", cfgPath, "account", "login", "work")
	if code != 0 || !strings.Contains(out, "Signed in: account work") {
		t.Fatalf("login: exit %d\n%s\n%s", code, out, errOut)
	}
	tokenPath := filepath.Join(dataDir, "tokens", "work.json")
	fi, err := os.Stat(tokenPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v", fi, err)
	}
	b, _ := os.ReadFile(tokenPath)
	secrets := []string{m.ClientSecret}
	for _, k := range []string{"access_token", "refresh_token"} {
		if v := jsonField(string(b), k); v != "" {
			secrets = append(secrets, v)
		}
	}
	if len(secrets) != 3 {
		t.Fatalf("token file lacks a token: %s", b)
	}
	seedStore(t, dataDir) // as the daemon would have made it
	outputs := map[string]string{"login": out + errOut}
	for _, args := range [][]string{{"config", "show"}, {"config", "show", "--json"}, {"status", "--json"}, {"status"}} {
		code, out, errOut := cli(t, append([]string{"--config", cfgPath}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, errOut)
		}
		outputs[strings.Join(args, " ")] = out + errOut
	}
	if !strings.Contains(outputs["config show"], "# sign-in of account work: signed in (access token valid until") {
		t.Errorf("config show does not say the account is signed in:\n%s", outputs["config show"])
	}
	if !strings.Contains(outputs["status --json"], `"signed_in": true`) || !strings.Contains(outputs["status --json"], `"expires": "`) {
		t.Errorf("status --json lacks the sign-in:\n%s", outputs["status --json"])
	}
	for name, o := range outputs {
		for _, s := range secrets {
			if strings.Contains(o, s) {
				t.Errorf("%s shows a token or the client secret:\n%s", name, o)
			}
		}
	}

	code, out, _ = cli(t, "--config", cfgPath, "account", "logout", "work")
	if code != 0 || !strings.Contains(out, "Signed out: account work") {
		t.Fatalf("logout: exit %d %s", code, out)
	}
	if _, err := os.Stat(tokenPath); !os.IsNotExist(err) {
		t.Errorf("token file still there after logout: %v", err)
	}
	if _, out, _ := cli(t, "--config", cfgPath, "status"); !strings.Contains(out, "not signed in: run holdover account login work") {
		t.Errorf("status after logout:\n%s", out)
	}
}

func TestAccountLoginAccessDeniedIsOneLineError(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Shutdown() })
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "config.yaml")
	text := strings.NewReplacer("%DATA%", filepath.Join(dir, "data"), "%CLIENT%", m.ClientID, "%AUTH%", m.AuthorizationEndpoint(), "%TOKEN%", m.TokenEndpoint()).Replace(loginConfig)
	os.WriteFile(cfgPath, []byte(text), 0o600)
	t.Setenv("HOLDOVER_TEST_CLIENT_SECRET", m.ClientSecret)
	old := openURL
	openURL = func(u string) error {
		au, _ := url.Parse(u)
		redirect, _ := url.Parse(au.Query().Get("redirect_uri"))
		redirect.RawQuery = url.Values{"error": {"access_denied"}, "state": {au.Query().Get("state")}}.Encode()
		go http.Get(redirect.String())
		return nil
	}
	t.Cleanup(func() { openURL = old })
	code, _, errOut := cli(t, "--config", cfgPath, "account", "login", "work")
	if code != 1 || errOut != "holdover: sign-in refused (access_denied): the sign-in or the consent was declined\n" {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestAccountLoginOfAPasswordAccountSaysSo(t *testing.T) {
	cfgPath, _ := writeTestConfig(t)
	code, _, errOut := cli(t, "--config", cfgPath, "account", "login", "work")
	if code != 1 || !strings.Contains(errOut, "signs in with a password") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}

// jsonField pulls a string field out of a small JSON document.
func jsonField(doc, key string) string {
	_, rest, ok := strings.Cut(doc, `"`+key+`": "`)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(rest, `"`)
	return v
}
