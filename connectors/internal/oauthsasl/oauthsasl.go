// Package oauthsasl holds the SASL clients that sign in to mail servers
// with an OAuth2 access token: XOAUTH2 (Google's and Microsoft's format)
// and OAUTHBEARER (RFC 7628). The IMAP and SMTP connectors both use them
// (they implement github.com/emersion/go-sasl's Client).
//
// Invariants:
//   - The token is sent only in the initial response; it never appears in
//     an error or a String of anything here.
//   - A server that refuses the token sends an error challenge (a JSON
//     object) and waits for one more client message before its final
//     NO/535. The clients answer it (OAUTHBEARER with "\x01", RFC 7628
//     §3.2.3; XOAUTH2 with the configured answer, empty by default) and
//     remember the refusal (Refused), so the caller can tell "the server
//     refused the token" from any other failure, whatever the final reply
//     looks like.
package oauthsasl

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// Mechanism names as servers advertise them.
const (
	XOAuth2     = "XOAUTH2"
	OAuthBearer = sasl.OAuthBearer // "OAUTHBEARER"
)

// Pick returns the mechanism to use among those a server advertises
// (compared case-insensitively): OAUTHBEARER, the standard one, over
// XOAUTH2; "" when it offers neither.
func Pick(advertised []string) string {
	has := func(m string) bool {
		for _, a := range advertised {
			if strings.EqualFold(a, m) {
				return true
			}
		}
		return false
	}
	switch {
	case has(OAuthBearer):
		return OAuthBearer
	case has(XOAuth2):
		return XOAuth2
	}
	return ""
}

// Refusal is the server's error challenge: why it refused the token. Its
// text names the status only.
type Refusal struct {
	Status  string `json:"status"`
	Schemes string `json:"schemes,omitempty"`
	Scope   string `json:"scope,omitempty"`
}

func (r *Refusal) Error() string {
	if r.Status == "" {
		return "the server refused the token"
	}
	return fmt.Sprintf("the server refused the token (status %s)", r.Status)
}

// Client is a SASL client for one token that remembers a refusal.
type Client interface {
	sasl.Client
	// Refused returns the server's error challenge once it sent one, else
	// nil.
	Refused() *Refusal
}

// NewClient returns the client for mechanism (XOAuth2 or OAuthBearer; any
// other name is OAuthBearer's caller error, reported by Start).
// errorAnswer is what XOAUTH2 answers the error challenge with (see
// XOAuth2Client); OAUTHBEARER always answers "\x01".
func NewClient(mechanism, username, token string, errorAnswer []byte) Client {
	if strings.EqualFold(mechanism, XOAuth2) {
		return &XOAuth2Client{Username: username, Token: token, ErrorAnswer: errorAnswer}
	}
	return &OAuthBearerClient{Username: username, Token: token}
}

// XOAuth2Client is SASL XOAUTH2: an initial response
// "user=" U "\x01auth=Bearer " T "\x01\x01".
type XOAuth2Client struct {
	Username, Token string
	// ErrorAnswer answers the server's error challenge. Google and
	// Microsoft document an empty answer; go-imap writes an empty answer
	// as "=", which Dovecot refuses as bad base64, so the IMAP connector
	// answers "\x01" (as OAUTHBEARER does), which servers accept as the
	// dummy it is.
	ErrorAnswer []byte

	refused *Refusal
}

// Start implements sasl.Client.
func (c *XOAuth2Client) Start() (string, []byte, error) {
	return XOAuth2, []byte("user=" + c.Username + "\x01auth=Bearer " + c.Token + "\x01\x01"), nil
}

// Next implements sasl.Client: the only challenge XOAUTH2 has is the
// error one.
func (c *XOAuth2Client) Next(challenge []byte) ([]byte, error) {
	c.refused = parseRefusal(challenge)
	if c.ErrorAnswer == nil {
		// Non-nil: go-smtp takes a nil answer for "nothing to send" and
		// would end the exchange without the server's final reply.
		return []byte{}, nil
	}
	return c.ErrorAnswer, nil
}

// Refused implements Client.
func (c *XOAuth2Client) Refused() *Refusal { return c.refused }

// OAuthBearerClient is SASL OAUTHBEARER (RFC 7628) with the authorization
// identity set to Username: "n,a=" U ",\x01auth=Bearer " T "\x01\x01".
// Unlike go-sasl's, it answers the error challenge with "\x01" (§3.2.3),
// so the server can send its final reply and the connection stays in
// step.
type OAuthBearerClient struct {
	Username, Token string

	refused *Refusal
}

// Start implements sasl.Client.
func (c *OAuthBearerClient) Start() (string, []byte, error) {
	// A comma or "=" in the authzid would have to be escaped (RFC 5801
	// §5.1); mail logins have neither, but escape anyway.
	user := strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.Username)
	return OAuthBearer, []byte("n,a=" + user + ",\x01auth=Bearer " + c.Token + "\x01\x01"), nil
}

// Next implements sasl.Client.
func (c *OAuthBearerClient) Next(challenge []byte) ([]byte, error) {
	c.refused = parseRefusal(challenge)
	return []byte{0x01}, nil
}

// Refused implements Client.
func (c *OAuthBearerClient) Refused() *Refusal { return c.refused }

// parseRefusal reads an error challenge; one that is not the JSON the
// RFC describes is still a refusal, without a status.
func parseRefusal(challenge []byte) *Refusal {
	r := &Refusal{}
	if err := json.Unmarshal(challenge, r); err != nil {
		return &Refusal{}
	}
	return r
}
