package demo

import (
	"bytes"
	"strings"

	"github.com/emersion/go-sasl"
)

// The server side of the two SASL mechanisms that carry an OAuth2 access
// token, for the demo's IMAP and SMTP servers: OAUTHBEARER (RFC 7628)
// and XOAUTH2 (Google's and Microsoft's). go-sasl has an OAUTHBEARER
// server, but it ends a refusal with an error the protocol libraries
// turn into a temporary failure (SMTP 454); this one ends it with the
// protocol's own refusal.

const xoauth2 = "XOAUTH2"

// bearerMechanisms are the mechanisms the demo's mail servers offer.
var bearerMechanisms = []string{sasl.OAuthBearer, xoauth2}

// bearerServer reads one initial response holding the user and the
// token. A refused token gets the JSON error challenge, and the client's
// dummy answer to it the final refusal.
type bearerServer struct {
	mech    string
	check   func(user, token string) bool
	refusal error // what the protocol answers a refused token with
	failed  bool
}

func newBearerServer(mech string, check func(user, token string) bool, refusal error) sasl.Server {
	return &bearerServer{mech: mech, check: check, refusal: refusal}
}

// Next implements sasl.Server.
func (s *bearerServer) Next(resp []byte) ([]byte, bool, error) {
	if s.failed {
		return nil, true, s.refusal
	}
	if resp == nil {
		return []byte{}, false, nil // no SASL-IR: ask for the response
	}
	if user, token, ok := parseBearer(s.mech, resp); ok && s.check(user, token) {
		return nil, true, nil
	}
	s.failed = true
	return []byte(`{"status":"invalid_token","schemes":"bearer"}`), false, nil
}

// parseBearer reads "n,a=USER,\x01auth=Bearer TOKEN\x01\x01" (OAUTHBEARER)
// or "user=USER\x01auth=Bearer TOKEN\x01\x01" (XOAUTH2).
func parseBearer(mech string, resp []byte) (user, token string, ok bool) {
	kv := resp
	if mech == sasl.OAuthBearer {
		gs2 := bytes.SplitN(resp, []byte{','}, 3)
		if len(gs2) != 3 || string(gs2[0]) != "n" || !bytes.HasPrefix(gs2[1], []byte("a=")) {
			return "", "", false
		}
		user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(string(gs2[1][2:]))
		kv = gs2[2]
	}
	for _, f := range bytes.Split(kv, []byte{0x01}) {
		k, v, _ := strings.Cut(string(f), "=")
		switch {
		case k == "user" && mech == xoauth2:
			user = v
		case k == "auth" && len(v) > len("bearer ") && strings.EqualFold(v[:len("bearer ")], "bearer "):
			token = v[len("bearer "):]
		}
	}
	return user, token, user != "" && token != ""
}
