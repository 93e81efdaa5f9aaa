package testenv

import (
	"strings"
	"testing"
)

// DovecotOption changes how [StartDovecot] configures the server.
type DovecotOption func(*dovecotOptions)

type dovecotOptions struct {
	oidc  *OIDC
	mechs []string
}

// WithOAuth2 makes Dovecot also accept OAuth2 bearer tokens through SASL
// (AUTHENTICATE XOAUTH2 and OAUTHBEARER, or only the mechanisms named,
// e.g. "xoauth2"), with passdb oauth2: Dovecot's auth process asks o's
// validation endpoint about each token (introspection_mode = auth) and
// takes the token's subject as the login name, so only a token o issued,
// unexpired and for that very user, logs in. LOGIN and PLAIN with the
// users' passwords keep working. Only the mechanisms named are advertised
// (AUTH=... in the capabilities), which is how a test picks the one a
// client must use.
func WithOAuth2(o *OIDC, mechanisms ...string) DovecotOption {
	return func(opts *dovecotOptions) {
		opts.oidc = o
		opts.mechs = mechanisms
	}
}

// oauth2AnvilPenaltyOff goes in the anvil service block. Dovecot delays a
// login from an IP that failed recently (2 s, then 4, 8, 15: the auth
// penalty, kept by anvil), which would slow every refused-then-refreshed
// login by seconds. The auth process skips it when it cannot open anvil's
// penalty socket, hence mode 0.
const oauth2AnvilPenaltyOff = "  unix_listener anvil-auth-penalty {\n    mode = 0\n  }\n"

// oauth2Config returns the oauth2 passdb block (with {{oauth2conf}} to be
// replaced by its settings file), the mechanisms line restricting the
// passwd-file passdb to passwords, and auth_mechanisms.
func (o dovecotOptions) oauth2Config(t testing.TB) (passdb, passwdMechs, authMechs string) {
	t.Helper()
	mechs := append([]string(nil), o.mechs...)
	if len(mechs) == 0 {
		mechs = []string{"xoauth2", "oauthbearer"}
	}
	for i, m := range mechs {
		mechs[i] = strings.ToLower(m)
		if mechs[i] != "xoauth2" && mechs[i] != "oauthbearer" {
			t.Fatalf("testenv: dovecot: WithOAuth2: unknown mechanism %q (want xoauth2 or oauthbearer)", m)
		}
	}
	list := strings.Join(mechs, " ")
	passdb = "passdb {\n  driver = oauth2\n  mechanisms = " + list + "\n  args = {{oauth2conf}}\n}\n"
	return passdb, "  mechanisms = plain login\n", "plain login " + list
}

// oauth2Ext is the oauth2 passdb's settings file.
func (o dovecotOptions) oauth2Ext() string {
	return "# holdover testenv: generated; do not edit.\n" +
		"tokeninfo_url = " + o.oidc.ValidationURL() + "?access_token=\n" +
		"username_attribute = sub\n" +
		"timeout_msecs = 5000\n"
}
