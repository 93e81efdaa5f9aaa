package testenv

import (
	"bytes"
	"strings"

	"github.com/emersion/go-smtp"
)

// AcceptOAuth2Only makes the sink offer and accept only OAuth2 sign-in
// (AUTH XOAUTH2 and OAUTHBEARER, or only the mechanisms named), from
// then on: each token is checked with o's validation endpoint and must
// belong to the user signing in, who must be s.User. A refused token gets
// the error challenge of RFC 7628 §3.2.2 ({"status":"401",...}), then,
// after the client's dummy answer, 535 5.7.8.
func (s *SMTPSink) AcceptOAuth2Only(o *OIDC, mechanisms ...string) {
	if len(mechanisms) == 0 {
		mechanisms = []string{"XOAUTH2", "OAUTHBEARER"}
	}
	mechs := make([]string, len(mechanisms))
	for i, m := range mechanisms {
		mechs[i] = strings.ToUpper(m)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.oidc, s.mechs = o, mechs
}

func (s *SMTPSink) oauth2() (*OIDC, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.oidc, s.mechs
}

// sinkTokenServer is the server side of XOAUTH2 and OAUTHBEARER.
type sinkTokenServer struct {
	mech    string
	ss      *sinkSession
	oidc    *OIDC
	refused bool
}

var errTokenRefused = &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "Authentication credentials invalid"}

func (a *sinkTokenServer) Next(response []byte) ([]byte, bool, error) {
	if a.refused {
		// The client's answer to the error challenge: any will do.
		return nil, true, errTokenRefused
	}
	if response == nil {
		return []byte{}, false, nil // ask for the initial response
	}
	user, token := parseTokenResponse(a.mech, response)
	got, err := a.oidc.Validate(token)
	if token == "" || err != nil || user != a.ss.s.User || got != user {
		a.refused = true
		return []byte(`{"status":"401","schemes":"bearer","scope":"mail"}`), false, nil
	}
	a.ss.authed, a.ss.mech = true, a.mech
	return nil, true, nil
}

// parseTokenResponse reads the user and token from an XOAUTH2
// ("user=U\x01auth=Bearer T\x01\x01") or OAUTHBEARER
// ("n,a=U,\x01auth=Bearer T\x01\x01") initial response.
func parseTokenResponse(mech string, resp []byte) (user, token string) {
	fields := resp
	if mech == "OAUTHBEARER" {
		parts := bytes.SplitN(resp, []byte{','}, 3)
		if len(parts) != 3 || string(parts[0]) != "n" {
			return "", ""
		}
		user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(strings.TrimPrefix(string(parts[1]), "a="))
		fields = parts[2]
	}
	for _, f := range bytes.Split(fields, []byte{0x01}) {
		k, v, ok := strings.Cut(string(f), "=")
		switch {
		case !ok:
		case k == "user" && mech == "XOAUTH2":
			user = v
		case k == "auth" && len(v) > 7 && strings.EqualFold(v[:7], "bearer "):
			token = v[7:]
		}
	}
	return user, token
}
