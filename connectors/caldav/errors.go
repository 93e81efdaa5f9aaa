package caldav

import (
	"context"
	"fmt"
	"net/http"

	"github.com/holdover/holdover/connectors/internal/davhttp"
	hsync "github.com/holdover/holdover/sync"
)

// statusError is an answer with a status the request did not expect.
type statusError = davhttp.StatusError

// readStatusError reads what is useful of an unexpected answer and closes
// it.
func (c *Client) readStatusError(resp *http.Response) *statusError {
	return davhttp.ReadStatusError(resp, c.scrub)
}

// scrub removes the password from server text quoted in an error: no
// server should echo it, but an error must never carry it.
func (c *Client) scrub(s string) string { return c.password.Scrub(s) }

// kindOfStatus classifies an HTTP status (see the package doc's table).
func kindOfStatus(e *statusError) hsync.Kind { return davhttp.KindOfStatus(e) }

// statusErr classifies an unexpected answer to op.
func (c *Client) statusErr(op string, resp *http.Response) error {
	e := c.readStatusError(resp)
	return hsync.Errorf(kindOfStatus(e), op, e)
}

// collectionErr is statusErr for a request on a collection: 404 and 410
// mean the calendar is gone.
func (c *Client) collectionErr(op string, resp *http.Response) error {
	e := c.readStatusError(resp)
	if e.Code == http.StatusNotFound || e.Code == http.StatusGone {
		return hsync.Errorf(hsync.Permanent, op, fmt.Errorf("%w: %w", hsync.ErrCalendarGone, e))
	}
	return hsync.Errorf(kindOfStatus(e), op, e)
}

// transportError classifies a failure to get an answer at all. The
// caller's context wins when it has ended; the request's own timeout is
// told apart from it.
func (c *Client) transportError(ctx context.Context, op string, err error) error {
	return davhttp.TransportError(ctx, op, err, c.timeoutText())
}

// readErr classifies a failure while reading an answer's body: the
// caller's callback error passes unchanged, the rest is transport
// trouble or a surprise (both Transient).
func (c *Client) readErr(ctx context.Context, op string, err error) error {
	return davhttp.ReadErr(ctx, op, err, c.timeoutText())
}

func (c *Client) timeoutText() string { return fmt.Sprintf("no answer within %v", c.timeout) }
