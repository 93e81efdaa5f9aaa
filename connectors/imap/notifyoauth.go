package imap

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"

	"github.com/holdover/holdover/connectors/internal/oauthsasl"
	hsync "github.com/holdover/holdover/sync"
)

// loginOAuth2 signs the NOTIFY session in with the token source, as
// Session.loginOAuth2 does for the main one: the mechanism the server
// advertises, and one refresh when the token is refused. A server that
// hangs up after its refusal fails this attempt (transient); the caller's
// next dial gets the refreshed token from the source.
func (n *Notifier) loginOAuth2(ctx context.Context) error {
	op := "imap notify login " + n.cfg.addr()
	untagged, err := n.command("CAPABILITY")
	if err != nil {
		return hsync.Errorf(classifyNotify(err), op, err)
	}
	var offered []string
	for _, c := range capabilities(untagged) {
		if mech, ok := strings.CutPrefix(c, "AUTH="); ok {
			offered = append(offered, mech)
		}
	}
	mech := oauthsasl.Pick(offered)
	if mech == "" {
		return hsync.Errorf(hsync.Auth, op, fmt.Errorf("the server offers neither OAUTHBEARER nor XOAUTH2 (AUTH=%s); cannot sign in with OAuth2", strings.Join(offered, " AUTH=")))
	}
	tok, err := n.cfg.OAuth2.AccessToken(ctx)
	if err != nil {
		return err
	}
	refused, err := n.authenticate(mech, tok)
	if err != nil {
		return err
	}
	if !refused {
		n.renewAt = oauthsasl.RenewAt(n.cfg.OAuth2, tok)
		return nil
	}
	if tok, err = n.cfg.OAuth2.Refresh(ctx); err != nil {
		return err
	}
	if refused, err = n.authenticate(mech, tok); err != nil {
		return err
	}
	if refused {
		return hsync.Errorf(hsync.Auth, op, fmt.Errorf("the server refused the OAuth2 token for %s", n.cfg.Username))
	}
	n.renewAt = oauthsasl.RenewAt(n.cfg.OAuth2, tok)
	return nil
}

// authenticate runs AUTHENTICATE mech with the token; refused reports
// that the server turned the token down. The token is only ever written
// to the connection, base64-encoded, never into an error.
func (n *Notifier) authenticate(mech, token string) (refused bool, err error) {
	op := "imap notify login " + n.cfg.addr() + " (" + mech + ")"
	client := oauthsasl.NewClient(mech, n.cfg.Username, token, []byte{0x01})
	_, ir, err := client.Start()
	if err != nil {
		return false, hsync.Errorf(hsync.Permanent, op, err)
	}
	n.mu.Lock()
	n.tag++
	tag := fmt.Sprintf("N%d", n.tag)
	n.mu.Unlock()
	if _, err := io.WriteString(n.conn, tag+" AUTHENTICATE "+mech+"\r\n"); err != nil {
		return false, hsync.Errorf(hsync.Transient, op, err)
	}
	first := true
	for {
		resp, err := readResponse(n.r)
		if err != nil {
			return false, hsync.Errorf(hsync.Transient, op, err)
		}
		if strings.HasPrefix(string(resp), "+") {
			challenge, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(resp[1:])))
			if err != nil {
				return false, hsync.Errorf(hsync.Transient, op, fmt.Errorf("bad challenge from the server: %w", err))
			}
			answer := ir
			if !first || len(challenge) > 0 {
				if answer, err = client.Next(challenge); err != nil {
					return false, hsync.Errorf(hsync.Auth, op, err)
				}
			}
			first = false
			if _, err := io.WriteString(n.conn, base64.StdEncoding.EncodeToString(answer)+"\r\n"); err != nil {
				return false, hsync.Errorf(hsync.Transient, op, err)
			}
			continue
		}
		ev, err := parseResponse(resp)
		if err != nil {
			return false, hsync.Errorf(hsync.Transient, op, err)
		}
		switch {
		case ev.kind == evBye:
			return false, hsync.Errorf(hsync.Transient, op, fmt.Errorf("server closed the connection: %s", ev.text))
		case ev.kind != evTagged || ev.tag != tag:
			continue
		case ev.status == "OK":
			return false, nil
		case ev.status == "NO" && (client.Refused() != nil || !strings.HasPrefix(strings.ToUpper(ev.text), "[UNAVAILABLE]")):
			return true, nil
		default:
			ne := &notifyError{status: ev.status, text: ev.text}
			return false, hsync.Errorf(classifyNotify(ne), op, ne)
		}
	}
}

// capabilities lists the names in "* CAPABILITY" responses, upper case.
func capabilities(untagged [][]byte) []string {
	var caps []string
	for _, resp := range untagged {
		line := strings.TrimRight(string(resp), "\r\n")
		if rest, ok := strings.CutPrefix(strings.ToUpper(line), "* CAPABILITY "); ok {
			caps = append(caps, strings.Fields(rest)...)
		}
	}
	return caps
}
