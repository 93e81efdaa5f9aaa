package caldav_test

import (
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/caldav"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// counter is an http.RoundTripper that counts requests by method (and
// REPORT by its body's root element), so tests can check round trips.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func newCounter() *counter { return &counter{next: http.DefaultTransport, n: map[string]int{}} }

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[req.Method]++
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

func (c *counter) count(method string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[method]
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.n)
}

// clientFor returns a client of the Radicale account starting at url (the
// server root when url is ""), and the request counter under it.
func clientFor(t *testing.T, r *testenv.Radicale, url string) (*caldav.Client, *counter) {
	t.Helper()
	if url == "" {
		url = r.URL
	}
	cnt := newCounter()
	c, err := caldav.New(caldav.Config{
		URL:        url,
		Username:   r.User,
		Password:   func(context.Context) (string, error) { return r.Password, nil },
		Timeout:    30 * time.Second,
		HTTPClient: &http.Client{Transport: cnt},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, cnt
}

// raw sends one request to Radicale as another client would (no
// connector in the way) and returns status, headers and body.
func raw(t *testing.T, r *testenv.Radicale, method, path string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, strings.TrimSuffix(r.URL, "/")+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.User, r.Password)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// mkcalendar creates a calendar with MKCALENDAR (RFC 4791 §5.3.1) and
// returns its href.
func mkcalendar(t *testing.T, r *testenv.Radicale, name, display, color string, comps ...string) string {
	t.Helper()
	var cs strings.Builder
	for _, c := range comps {
		fmt.Fprintf(&cs, `<C:comp name="%s"/>`, c)
	}
	body := `<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:A="http://apple.com/ns/ical/">
<D:set><D:prop><D:displayname>` + xmlText(display) + `</D:displayname><A:calendar-color>` + color + `</A:calendar-color>
<C:supported-calendar-component-set>` + cs.String() + `</C:supported-calendar-component-set></D:prop></D:set></C:mkcalendar>`
	href := "/" + r.User + "/" + name + "/"
	st, _, b := raw(t, r, "MKCALENDAR", href, map[string]string{"Content-Type": "application/xml"}, body)
	if st != http.StatusCreated {
		t.Fatalf("MKCALENDAR %s: %d %s", href, st, b)
	}
	return href
}

// event is a minimal VEVENT calendar object.
func event(uid, summary string) string {
	return "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//holdover//caldav test//EN\r\n" +
		"BEGIN:VEVENT\r\nUID:" + uid + "\r\nDTSTAMP:20240101T000000Z\r\n" +
		"DTSTART:20240102T100000Z\r\nDTEND:20240102T110000Z\r\nSUMMARY:" + summary + "\r\n" +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
}

// seed writes n events into calendar name on disk (the way the benchmark
// seeds: PUTs are slow) and returns their file names.
func seed(t *testing.T, r *testenv.Radicale, name string, n int) []string {
	t.Helper()
	dir := r.CalendarDir(t, name)
	var files []string
	for i := range n {
		f := fmt.Sprintf("ev-%04d.ics", i)
		if err := os.WriteFile(filepath.Join(dir, f), []byte(event(fmt.Sprintf("seed-%d@holdover", i), fmt.Sprintf("event %d", i))), 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// kindIs fails unless err is of kind k.
func kindIs(t *testing.T, what string, err error, k hsync.Kind) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want a %v one", what, k)
	}
	if got := hsync.KindOf(err); got != k {
		t.Fatalf("%s: %v (kind %v), want kind %v", what, err, got, k)
	}
}

func hrefsOf(refs []hsync.ObjectRef) []string {
	var hs []string
	for _, r := range refs {
		hs = append(hs, r.Href)
	}
	slices.Sort(hs)
	return hs
}

func isGone(err error) bool { return errors.Is(err, hsync.ErrCalendarGone) }

// startProxy puts a fault-injecting TCP proxy in front of Radicale.
func startProxy(t *testing.T, r *testenv.Radicale) *faultproxy.Proxy {
	t.Helper()
	u, err := url.Parse(r.URL)
	if err != nil {
		t.Fatal(err)
	}
	p, err := faultproxy.New(u.Host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
