package oauth

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/url"
	"strings"
	"syscall"

	"golang.org/x/oauth2"

	hsync "github.com/holdover/holdover/sync"
)

// unreachable prefixes every Transient error of the identity provider:
// status and the outage cause show it as it is.
const unreachable = "identity provider unreachable: "

// netWords says what went wrong on the way to the token endpoint in a
// person's words (url.Error's own text would read "Post: EOF").
func netWords(err error) string {
	var dns *net.DNSError
	var cert *tls.CertificateVerificationError
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "the connection closed before an answer"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "connection reset"
	case errors.As(err, &dns):
		return "name not found"
	case errors.As(err, &cert):
		return "its TLS certificate is not trusted"
	case errors.As(err, &ne) && ne.Timeout():
		return "no answer in time"
	}
	return err.Error()
}

// wordedError reads as words but still unwraps to the error it stands
// for (errors.Is(err, syscall.ECONNREFUSED) holds).
type wordedError struct {
	words string
	err   error
}

func (e wordedError) Error() string { return e.words }
func (e wordedError) Unwrap() error { return e.err }

// Classify turns an error of a token request into a sync error. Its text
// never quotes what the identity provider sent (an HTML page can be
// long, and a body may echo a request).
func Classify(account string, err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		var ue *url.Error
		if errors.As(err, &ue) {
			// url.Error names the token endpoint; keep only what failed.
			return hsync.Errorf(hsync.Transient, "oauth2 token", fmt.Errorf(unreachable+"%w", wordedError{netWords(ue.Err), ue.Err}))
		}
		// x/oauth2 flattens transport errors into text ("oauth2: cannot
		// fetch token: Post \"URL\": dial tcp …"): keep what failed.
		if rest, ok := strings.CutPrefix(err.Error(), "oauth2: cannot fetch token: "); ok {
			if _, cause, found := strings.Cut(rest, "\": "); found {
				rest = cause
			}
			return hsync.Errorf(hsync.Transient, "oauth2 token", errors.New(unreachable+rest))
		}
		// Otherwise a 2xx answer that holds no token (an HTML page from a
		// proxy or captive portal), or one that does not parse.
		return hsync.Errorf(hsync.Transient, "oauth2 token", errors.New(unreachable+"the token endpoint did not answer with a token (an HTML page or a proxy in the way?)"))
	}
	status, ctype := 0, ""
	if re.Response != nil {
		status = re.Response.StatusCode
		ctype, _, _ = mime.ParseMediaType(re.Response.Header.Get("Content-Type"))
	}
	switch re.ErrorCode {
	case "invalid_grant":
		return needsLogin(account, "the identity provider no longer accepts the sign-in (invalid_grant: revoked, expired or the password changed)")
	case "invalid_client", "unauthorized_client":
		return hsync.Errorf(hsync.Auth, "oauth2 token", fmt.Errorf("the identity provider refused the client (%s): check client_id and client_secret of the account's oauth2 settings", re.ErrorCode))
	case "invalid_scope":
		return hsync.Errorf(hsync.Auth, "oauth2 token", errors.New("the identity provider refused the scopes (invalid_scope): check the oauth2 scopes and the app registration's API permissions"))
	}
	switch {
	case status >= 500 || status == 429:
		return hsync.Errorf(hsync.Transient, "oauth2 token", fmt.Errorf(unreachable+"the token endpoint answered %d", status))
	case ctype == "text/html":
		return hsync.Errorf(hsync.Transient, "oauth2 token", fmt.Errorf(unreachable+"the token endpoint answered an HTML page (status %d)", status))
	case re.ErrorCode != "":
		// Unknown refusals are transient: a surprise never drops data.
		return hsync.Errorf(hsync.Transient, "oauth2 token", fmt.Errorf("the identity provider answered %q (status %d)", re.ErrorCode, status))
	}
	return hsync.Errorf(hsync.Transient, "oauth2 token", fmt.Errorf(unreachable+"the token endpoint answered %d without an OAuth2 error", status))
}
