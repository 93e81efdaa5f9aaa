package webdav_test

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/webdav"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// counter is an http.RoundTripper that counts requests by method and
// Depth, so tests can check round trips.
type counter struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func newCounter() *counter {
	return &counter{next: http.DefaultTransport.(*http.Transport).Clone(), n: map[string]int{}}
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.n[req.Method]++
	if d := req.Header.Get("Depth"); d != "" {
		c.n[req.Method+" "+d]++
	}
	c.mu.Unlock()
	return c.next.RoundTrip(req)
}

func (c *counter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[key]
}

func (c *counter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.n)
}

// apacheClient starts Apache and returns a client of its DAV root.
func apacheClient(t *testing.T) (*webdav.Client, *testenv.Apache, *counter) {
	t.Helper()
	a := testenv.StartApache(t)
	cnt := newCounter()
	c, err := webdav.New(webdav.Options{
		URL:        a.URL,
		Username:   a.User,
		Password:   func(context.Context) (string, error) { return a.Password, nil },
		Timeout:    30 * time.Second,
		HTTPClient: &http.Client{Transport: cnt},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, a, cnt
}

// raw sends one request to the server as another client would (no
// connector in the way); path is escaped and relative to the DAV root.
func raw(t *testing.T, a *testenv.Apache, method, path string, hdr map[string]string, body string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequest(method, a.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(a.User, a.Password)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header
}

// list collects a listing, failing the test unless every folder came
// before its contents.
func list(t *testing.T, c *webdav.Client) map[string]hsync.RemoteFile {
	t.Helper()
	got := map[string]hsync.RemoteFile{}
	err := c.List(context.Background(), "", func(f hsync.RemoteFile) error {
		if _, dup := got[f.Path]; dup {
			t.Errorf("List reported %q twice", f.Path)
		}
		if i := strings.LastIndexByte(f.Path, '/'); i >= 0 {
			if parent, ok := got[f.Path[:i]]; !ok || !parent.Dir {
				t.Errorf("List reported %q before its folder", f.Path)
			}
		}
		got[f.Path] = f
		return nil
	})
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	return got
}

// shape is a listing as "path/" for folders and "path=size" for files,
// sorted.
func shape(files map[string]hsync.RemoteFile) []string {
	var s []string
	for p, f := range files {
		if f.Dir {
			s = append(s, p+"/")
		} else {
			s = append(s, p+"="+strconv.FormatInt(f.Size, 10))
		}
	}
	slices.Sort(s)
	return s
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

// put creates a file through the connector.
func put(t *testing.T, c *webdav.Client, path, content string) hsync.RemoteFile {
	t.Helper()
	f, err := c.Put(context.Background(), path, strings.NewReader(content), int64(len(content)), hsync.PutCondition{Create: true})
	if err != nil {
		t.Fatalf("create %q: %v", path, err)
	}
	return f
}

// get reads a file through the connector.
func get(t *testing.T, c *webdav.Client, path string) (string, hsync.RemoteFile) {
	t.Helper()
	var b strings.Builder
	f, err := c.Get(context.Background(), path, &b)
	if err != nil {
		t.Fatalf("get %q: %v", path, err)
	}
	return b.String(), f
}
