package demo

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/oauth2"
)

// signInAt runs the code flow with PKCE against the demo's identity
// provider; a wrong verifier stands for a stolen code.
func signInAt(t *testing.T, p *idProvider, verifier, exchangeWith string) (*oauth2.Token, error) {
	t.Helper()
	oc := &oauth2.Config{ClientID: demoClientID, RedirectURL: "http://127.0.0.1:9/",
		Endpoint: oauth2.Endpoint{AuthURL: "http://" + p.addr() + "/authorize", TokenURL: "http://" + p.addr() + "/token", AuthStyle: oauth2.AuthStyleInParams}}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(oc.AuthCodeURL("st", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || loc.Query().Get("code") == "" || loc.Query().Get("state") != "st" {
		t.Fatalf("authorize redirected to %q (%v)", resp.Header.Get("Location"), err)
	}
	return oc.Exchange(context.Background(), loc.Query().Get("code"), oauth2.VerifierOption(exchangeWith))
}

// bearerClient is the client side of OAUTHBEARER and XOAUTH2 as
// holdover's connectors speak it: the error challenge is answered with
// "\x01" (RFC 7628 §3.2.3), so the server sends its final refusal.
// go-sasl's OAUTHBEARER client gives up at the challenge instead.
type bearerClient struct{ mech, user, token string }

func (c bearerClient) Start() (string, []byte, error) {
	if c.mech == xoauth2 {
		return xoauth2, []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01"), nil
	}
	return sasl.OAuthBearer, []byte("n,a=" + c.user + ",\x01auth=Bearer " + c.token + "\x01\x01"), nil
}

func (c bearerClient) Next([]byte) ([]byte, error) { return []byte{0x01}, nil }

func TestDemoMailServersTakeOnlyTheIdentityProvidersTokens(t *testing.T) {
	idp, err := startIdP(demoClientID)
	if err != nil {
		t.Fatal(err)
	}
	defer idp.close()
	if _, err := signInAt(t, idp, oauth2.GenerateVerifier(), oauth2.GenerateVerifier()); err == nil {
		t.Fatal("a code exchanged with another PKCE verifier was accepted")
	}
	v := oauth2.GenerateVerifier()
	tok, err := signInAt(t, idp, v, v)
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("sign-in: %v (%+v)", err, tok)
	}
	renewed, err := (&oauth2.Config{ClientID: demoClientID, Endpoint: oauth2.Endpoint{TokenURL: "http://" + idp.addr() + "/token", AuthStyle: oauth2.AuthStyleInParams}}).
		TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil || renewed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v; the refresh token must rotate", err)
	}
	if _, ok := idp.check(demoUser, tok.AccessToken); !ok {
		t.Fatal("the first access token is refused")
	}

	imapSrv, err := startIMAP(demoUser, "pw", idp)
	if err != nil {
		t.Fatal(err)
	}
	defer imapSrv.close()
	smtpSrv, err := startSMTP(demoUser, idp)
	if err != nil {
		t.Fatal(err)
	}
	defer smtpSrv.close()
	for _, tc := range []struct {
		name   string
		client sasl.Client
		ok     bool
	}{
		{"OAUTHBEARER with the identity provider's token", bearerClient{sasl.OAuthBearer, demoUser, renewed.AccessToken}, true},
		{"XOAUTH2 with the identity provider's token", bearerClient{xoauth2, demoUser, renewed.AccessToken}, true},
		{"OAUTHBEARER with a forged token", bearerClient{sasl.OAuthBearer, demoUser, "forged"}, false},
		{"XOAUTH2 with a forged token", bearerClient{xoauth2, demoUser, "forged"}, false},
		{"XOAUTH2 with the token of someone else", bearerClient{xoauth2, "mallory@example.com", renewed.AccessToken}, false},
	} {
		t.Run("IMAP "+tc.name, func(t *testing.T) {
			c, err := imapclient.DialInsecure(imapSrv.addr(), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Authenticate(tc.client); (err == nil) != tc.ok {
				t.Fatalf("AUTHENTICATE: %v, want success %v", err, tc.ok)
			}
		})
		t.Run("SMTP "+tc.name, func(t *testing.T) {
			c, err := smtp.Dial(smtpSrv.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			err = c.Auth(tc.client)
			var se *smtp.SMTPError
			if (err == nil) != tc.ok || (err != nil && (!errors.As(err, &se) || se.Code != 535)) {
				t.Fatalf("AUTH: %v, want success %v (or 535)", err, tc.ok)
			}
		})
	}
	if imapSrv.oauth.newest().IsZero() || smtpSrv.oauth.newest().IsZero() {
		t.Error("the servers recorded no accepted sign-in")
	}
}
