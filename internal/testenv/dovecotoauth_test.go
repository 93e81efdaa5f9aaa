package testenv

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

// authenticate sends AUTHENTICATE mech with an initial response (SASL-IR)
// and answers an error challenge with "\x01"; it returns the tagged reply.
func (ic *imapConn) authenticate(tag, mech, ir string) string {
	ic.t.Helper()
	fmt.Fprintf(ic.c, "%s AUTHENTICATE %s %s\r\n", tag, mech, base64.StdEncoding.EncodeToString([]byte(ir)))
	for {
		l := ic.line()
		switch {
		case strings.HasPrefix(l, "+ "):
			fmt.Fprintf(ic.c, "AQ==\r\n")
		case strings.HasPrefix(l, tag+" "):
			return l
		}
	}
}

func xoauth2(user, token string) string {
	return "user=" + user + "\x01auth=Bearer " + token + "\x01\x01"
}
func oauthbearer(user, token string) string {
	return "n,a=" + user + ",\x01auth=Bearer " + token + "\x01\x01"
}

func TestDovecotWithOAuth2AcceptsOnlyTokensTheProviderIssuedForThatUser(t *testing.T) {
	o := StartOIDC(t)
	d := StartDovecot(t, WithOAuth2(o))
	good := o.Mint(t, d.User).AccessToken
	other, _ := d.AddUser(t, "other")
	tests := []struct {
		name, mech, ir, want string
	}{
		{"XOAUTH2 with a token issued for the user", "XOAUTH2", xoauth2(d.User, good), "OK"},
		{"OAUTHBEARER with a token issued for the user", "OAUTHBEARER", oauthbearer(d.User, good), "OK"},
		{"a token the provider never issued", "OAUTHBEARER", oauthbearer(d.User, "eyJhbGciOiJub25lIn0.e30."), "NO [AUTHENTICATIONFAILED]"},
		{"an expired token", "XOAUTH2", xoauth2(d.User, o.MintExpired(t, d.User).AccessToken), "NO [AUTHENTICATIONFAILED]"},
		{"another user's token", "XOAUTH2", xoauth2(other, good), "NO [AUTHENTICATIONFAILED]"},
		{"a token from another provider", "OAUTHBEARER", oauthbearer(d.User, StartOIDC(t).Mint(t, d.User).AccessToken), "NO [AUTHENTICATIONFAILED]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ic := dialIMAP(t, d.Addr())
			if got := ic.authenticate("a", tc.mech, tc.ir); !strings.HasPrefix(got, "a "+tc.want) {
				t.Fatalf("AUTHENTICATE = %q, want a %s", got, tc.want)
			}
		})
	}
	// Passwords still work.
	ic := dialIMAP(t, d.Addr())
	ic.cmd("p", fmt.Sprintf("LOGIN %s %s", d.User, d.Password))
	if o.Validations() < 5 {
		t.Fatalf("Dovecot asked the provider %d times, want once per token", o.Validations())
	}
}

func TestDovecotWithOAuth2AdvertisesOnlyTheMechanismsAsked(t *testing.T) {
	o := StartOIDC(t)
	d := StartDovecot(t, WithOAuth2(o, "xoauth2"))
	ic := dialIMAP(t, d.Addr())
	caps := strings.Join(ic.cmd("a", "CAPABILITY"), " ")
	if !strings.Contains(caps, "AUTH=XOAUTH2") || strings.Contains(caps, "AUTH=OAUTHBEARER") {
		t.Fatalf("CAPABILITY = %s, want AUTH=XOAUTH2 and no AUTH=OAUTHBEARER", caps)
	}
	if got := ic.authenticate("b", "XOAUTH2", xoauth2(d.User, o.Mint(t, d.User).AccessToken)); !strings.HasPrefix(got, "b OK") {
		t.Fatalf("AUTHENTICATE XOAUTH2 = %q", got)
	}
}
