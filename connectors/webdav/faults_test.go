package webdav_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/webdav"
	hsync "github.com/holdover/holdover/sync"
)

// Faults a real server will not produce on demand, from an httptest
// server: used for fault injection only; the protocol is specified
// against Apache and go-webdav's server.

const fakePassword = "fake-S3cret"

func fakeServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *webdav.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := webdav.New(webdav.Options{
		URL: srv.URL + "/root/", Username: "u",
		Password: func(context.Context) (string, error) { return fakePassword, nil },
		Timeout:  2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

// multistatus writes a 207 with the given responses.
func multistatus(w http.ResponseWriter, responses ...string) {
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.WriteHeader(http.StatusMultiStatus)
	io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">`+strings.Join(responses, "")+`</D:multistatus>`)
}

// entry is one DAV:response: a folder when etag is "", else a file.
func entry(href, etag string) string {
	props := `<D:resourcetype><D:collection/></D:resourcetype>`
	if etag != "" {
		props = `<D:resourcetype/><D:getetag>` + etag + `</D:getetag><D:getcontentlength>1</D:getcontentlength>` +
			`<D:getlastmodified>Mon, 02 Jan 2006 15:04:05 GMT</D:getlastmodified>`
	}
	return `<D:response><D:href>` + href + `</D:href><D:propstat><D:prop>` + props +
		`</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`
}

func TestFaultStatusesAreClassified(t *testing.T) {
	for _, tc := range []struct {
		code int
		want hsync.Kind
	}{
		{http.StatusInsufficientStorage, hsync.Transient},
		{http.StatusServiceUnavailable, hsync.Transient},
		{http.StatusInternalServerError, hsync.Transient},
		{http.StatusBadGateway, hsync.Transient},
		{http.StatusTooManyRequests, hsync.Transient},
		{http.StatusRequestTimeout, hsync.Transient},
		{http.StatusRequestEntityTooLarge, hsync.Permanent},
		{http.StatusNotImplemented, hsync.Permanent},
		{http.StatusBadRequest, hsync.Permanent},
		{http.StatusPreconditionFailed, hsync.Conflict},
		{http.StatusUnauthorized, hsync.Auth},
		{http.StatusForbidden, hsync.Auth},
		{http.StatusMovedPermanently, hsync.Permanent},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tc.code == http.StatusMovedPermanently {
					http.Redirect(w, r, "https://elsewhere.example/", tc.code)
					return
				}
				http.Error(w, "nope", tc.code)
			})
			ctx := context.Background()
			_, err := c.Put(ctx, "x", strings.NewReader("x"), 1, hsync.PutCondition{Create: true})
			kindIs(t, "PUT", err, tc.want)
			_, err = c.Stat(ctx, "x")
			kindIs(t, "PROPFIND", err, tc.want)
			err = c.Delete(ctx, "x", "")
			kindIs(t, "DELETE", err, tc.want)
		})
	}
}

func TestFaultListingDuringAnOutageIsTransient(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	})
	err := c.List(context.Background(), "", func(hsync.RemoteFile) error { return nil })
	kindIs(t, "List answered 503", err, hsync.Transient)
}

func TestFaultGetCutShortIsAnErrorNeverAShortSuccess(t *testing.T) {
	for _, framing := range []string{"content-length", "chunked"} {
		t.Run(framing, func(t *testing.T) {
			_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				conn, buf, err := w.(http.Hijacker).Hijack()
				if err != nil {
					panic(err)
				}
				defer conn.Close()
				if framing == "chunked" {
					fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nETag: \"1\"\r\n\r\n400\r\n%s\r\n", strings.Repeat("a", 1024))
				} else {
					fmt.Fprintf(buf, "HTTP/1.1 200 OK\r\nContent-Length: 10000\r\nETag: \"1\"\r\n\r\n%s", strings.Repeat("a", 1024))
				}
				buf.Flush()
			})
			var got strings.Builder
			_, err := c.Get(context.Background(), "f", &got)
			kindIs(t, "Get of a body cut short", err, hsync.Transient)
		})
	}
}

func TestFaultStallsEndARequestButSlowProgressDoesNot(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.WriteHeader(http.StatusOK)
		for i := range 10 {
			if r.URL.Path == "/stall" && i == 5 {
				select {
				case <-release:
				case <-r.Context().Done():
				}
				return
			}
			w.Write([]byte{'a'})
			w.(http.Flusher).Flush()
			time.Sleep(100 * time.Millisecond)
		}
	}))
	defer srv.Close()
	c, err := webdav.New(webdav.Options{URL: srv.URL, Timeout: 400 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if f, err := c.Get(context.Background(), "slow", &b); err != nil || b.String() != "aaaaaaaaaa" {
		t.Fatalf("a transfer longer than Timeout that keeps going: %+v, %v", f, err)
	}
	start := time.Now()
	_, err = c.Get(context.Background(), "stall", &strings.Builder{})
	kindIs(t, "a stalled transfer", err, hsync.Transient)
	if !strings.Contains(err.Error(), "no progress within 400ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("stall: %v after %v", err, time.Since(start))
	}

	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Get(ctx, "stall", &strings.Builder{})
	if !errors.Is(err, context.Canceled) || hsync.KindOf(err) != hsync.Transient {
		t.Fatalf("the caller's cancellation: %v, want it to win", err)
	}
}

func TestFaultPutStreamsWithALengthAndReadsBackAMissingETag(t *testing.T) {
	var propfinds atomic.Int32
	var seen atomic.Value
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "PUT":
			n, _ := io.Copy(io.Discard, r.Body)
			seen.Store(fmt.Sprintf("len=%d te=%v expect=%q read=%d inm=%q", r.ContentLength, r.TransferEncoding, r.Header.Get("Expect"), n, r.Header.Get("If-None-Match")))
			w.WriteHeader(http.StatusCreated) // no ETag
		case "PROPFIND":
			propfinds.Add(1)
			multistatus(w, `<D:response><D:href>/root/f</D:href><D:propstat><D:prop><D:resourcetype/>`+
				`<D:getcontentlength>2000000</D:getcontentlength></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`)
		}
	})
	body := io.LimitReader(zeros{}, 2000000) // no length net/http could know
	f, err := c.Put(context.Background(), "f", body, 2000000, hsync.PutCondition{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if want := `len=2000000 te=[] expect="100-continue" read=2000000 inm="*"`; seen.Load() != want {
		t.Errorf("the server saw %v, want %s", seen.Load(), want)
	}
	if f.Size != 2000000 || f.ETag != "" || propfinds.Load() != 1 {
		t.Fatalf("Put = %+v after %d PROPFINDs; a server without ETags gives none, after one look", f, propfinds.Load())
	}

	// A body shorter than announced is an error, not a short file.
	_, err = c.Put(context.Background(), "g", strings.NewReader("short"), 10, hsync.PutCondition{Create: true})
	if err == nil {
		t.Fatal("Put of a body shorter than its size succeeded")
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestFaultAWeakETagThatStaysWeakIsTransientAndAChangedOneAConflict(t *testing.T) {
	defer webdav.SetWeakWait(300*time.Millisecond, 50*time.Millisecond)()
	var tag atomic.Value
	tag.Store(`W/"1"`)
	var puts atomic.Int32
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "PROPFIND":
			multistatus(w, entry("/root/f", tag.Load().(string)))
		default:
			puts.Add(1)
			w.WriteHeader(http.StatusNoContent)
		}
	})
	ctx := context.Background()
	_, err := c.Put(ctx, "f", strings.NewReader("x"), 1, hsync.PutCondition{IfMatch: `W/"1"`})
	kindIs(t, "a weak tag that stays weak", err, hsync.Transient)
	kindIs(t, "Delete with it", c.Delete(ctx, "f", `W/"1"`), hsync.Transient)
	kindIs(t, "Move with it", c.Move(ctx, "f", "g", `W/"1"`), hsync.Transient)
	tag.Store(`"2"`)
	_, err = c.Put(ctx, "f", strings.NewReader("x"), 1, hsync.PutCondition{IfMatch: `W/"1"`})
	kindIs(t, "a weak tag for a version that changed", err, hsync.Conflict)
	if n := puts.Load(); n != 0 {
		t.Fatalf("%d writes sent with an unconfirmed weak tag", n)
	}
}

func TestFaultHostileHrefsAreSkippedNeverMapped(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		multistatus(w,
			entry("/root/", ""),
			entry("/root/ok.txt", `"1"`),
			entry("http://"+r.Host+"/root/abs.txt", `"2"`),
			entry("/root/../etc/passwd", `"3"`),
			entry("/root/%2e%2E/etc/shadow", `"4"`),
			entry("http://evil.example/root/x", `"5"`),
			entry("//evil.example/root/y", `"6"`),
			entry("/elsewhere/z", `"7"`),
			entry("/rootkit/z", `"8"`),
			entry("/root/a%2Fb", `"9"`),
			entry("../up", `"10"`),
			entry("/", ""),
		)
	})
	got := list(t, c)
	if s := shape(got); !slices.Equal(s, []string{"abs.txt=1", "ok.txt=1"}) {
		t.Fatalf("List = %q", s)
	}
}

func TestFaultDepthInfinityAnswersOutOfOrderAreReportedFoldersFirst(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		multistatus(w,
			entry("/root/a/b/c/deep.txt", `"1"`),
			entry("/root/a/b/", ""),
			entry("/root/z.txt", `"2"`),
			entry("/root/a/b/c/", ""),
			entry("/root/orphan/x.txt", `"3"`), // its folder is never listed
			entry("/root/a/", ""),
			entry("/root/", ""),
		)
	})
	var order []string
	err := c.List(context.Background(), "", func(f hsync.RemoteFile) error {
		order = append(order, f.Path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"z.txt", "a", "a/b", "a/b/c", "a/b/c/deep.txt", "orphan/x.txt"}
	if !slices.Equal(order, want) {
		t.Fatalf("order %q, want %q", order, want)
	}
}

func TestFaultDepthInfinityRefusalsAreRememberedButOutagesAreNot(t *testing.T) {
	for _, tc := range []struct {
		name     string
		refuse   func(w http.ResponseWriter)
		remember bool
	}{
		{"403 propfind-finite-depth", func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			io.WriteString(w, `<D:error xmlns:D="DAV:"><D:propfind-finite-depth/></D:error>`)
		}, true},
		{"400", func(w http.ResponseWriter) { http.Error(w, "no", http.StatusBadRequest) }, true},
		{"501", func(w http.ResponseWriter) { http.Error(w, "no", http.StatusNotImplemented) }, true},
		{"500", func(w http.ResponseWriter) { http.Error(w, "too big", http.StatusInternalServerError) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var infinity atomic.Int32
			_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				switch {
				case r.Header.Get("Depth") == "infinity":
					infinity.Add(1)
					tc.refuse(w)
				case r.URL.Path == "/root/":
					multistatus(w, entry("/root/", ""), entry("/root/d/", ""), entry("/root/f", `"1"`))
				case r.URL.Path == "/root/d/":
					multistatus(w, entry("/root/d/", ""), entry("/root/d/g", `"2"`), entry("/root/f", `"stray"`))
				default:
					http.NotFound(w, r)
				}
			})
			for range 2 {
				if s := shape(list(t, c)); !slices.Equal(s, []string{"d/", "d/g=1", "f=1"}) {
					t.Fatalf("List = %q", s)
				}
			}
			if want := map[bool]int32{true: 1, false: 2}[tc.remember]; infinity.Load() != want {
				t.Fatalf("%d depth-infinity requests over two listings, want %d", infinity.Load(), want)
			}
		})
	}
}

func TestFaultAListingWithAHoleIsAnError(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		multistatus(w, entry("/root/", ""), entry("/root/ok", `"1"`),
			`<D:response><D:href>/root/secret/</D:href><D:status>HTTP/1.1 403 Forbidden</D:status></D:response>`)
	})
	err := c.List(context.Background(), "", func(hsync.RemoteFile) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "secret") {
		t.Fatalf("List with an entry the server will not describe: %v", err)
	}
}

func TestFaultAnErrorFromTheCallbackStopsTheWalkAsIs(t *testing.T) {
	stop := errors.New("stop here")
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Depth") == "infinity" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		// Every folder holds three folders and three files: endless.
		var rs []string
		for i := range 3 {
			rs = append(rs, entry(r.URL.Path+fmt.Sprintf("d%d/", i), ""), entry(r.URL.Path+fmt.Sprintf("f%d", i), `"1"`))
		}
		multistatus(w, rs...)
	})
	n := 0
	err := c.List(context.Background(), "", func(f hsync.RemoteFile) error {
		n++
		if n == 50 {
			return stop
		}
		return nil
	})
	if err != stop || n != 50 {
		t.Fatalf("List = %v after %d entries, want the callback's own error at the 50th", err, n)
	}
}

func TestFaultServerTextIsScrubbedOfThePassword(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, pw, _ := r.BasicAuth()
		http.Error(w, "bad request from a user with password "+pw, http.StatusBadRequest)
	})
	_, err := c.Get(context.Background(), "x", io.Discard)
	kindIs(t, "400", err, hsync.Permanent)
	if strings.Contains(err.Error(), fakePassword) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error text: %v", err)
	}
}

func TestFaultRotatedPasswordDuringAStreamedPutIsTransientThenWorks(t *testing.T) {
	var accepted, current atomic.Value
	accepted.Store("old")
	current.Store("old")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, _ := r.BasicAuth(); pw != accepted.Load().(string) {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		io.Copy(io.Discard, r.Body)
		w.Header().Set("ETag", `"1"`)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	c, _ := webdav.New(webdav.Options{URL: srv.URL, Username: "u",
		Password: func(context.Context) (string, error) { return current.Load().(string), nil }})
	ctx := context.Background()
	create := hsync.PutCondition{Create: true}
	if _, err := c.Put(ctx, "a", strings.NewReader("a"), 1, create); err != nil {
		t.Fatal(err)
	}
	accepted.Store("new")
	current.Store("new")
	_, err := c.Put(ctx, "b", strings.NewReader("b"), 1, create)
	kindIs(t, "a streamed Put refused with a password rotated since", err, hsync.Transient)
	if _, err := c.Put(ctx, "b", strings.NewReader("b"), 1, create); err != nil {
		t.Fatalf("the next try: %v", err)
	}
	accepted.Store("newer")
	_, err = c.Put(ctx, "c", strings.NewReader("c"), 1, create)
	kindIs(t, "a streamed Put refused with the current password", err, hsync.Auth)
}

func TestFaultAHugeListingIsReadAsItStreams(t *testing.T) {
	const folders, perFolder = 40, 250 // 10,000 files, about 3.5 MB of XML
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">`+entry("/", ""))
		for d := range folders {
			io.WriteString(w, entry(fmt.Sprintf("/folder%03d/", d), ""))
			for f := range perFolder {
				io.WriteString(w, entry(fmt.Sprintf("/folder%03d/a%%20rather%%20long%%20file%%20name%05d.txt", d, f), fmt.Sprintf(`"%d-%d"`, d, f)))
			}
		}
		io.WriteString(w, `</D:multistatus>`)
	}))
	defer srv.Close()
	c, err := webdav.New(webdav.Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	stop := heapWatch()
	n := 0
	err = c.List(context.Background(), "", func(hsync.RemoteFile) error { n++; return nil })
	peak := stop()
	if err != nil || n != folders*(perFolder+1) {
		t.Fatalf("List: %d entries, %v", n, err)
	}
	t.Logf("%d entries, peak HeapInuse %.1f MiB", n, float64(peak)/(1<<20))
	if peak > 16<<20 {
		t.Fatalf("peak HeapInuse %d bytes while listing: the answer must be decoded as it streams", peak)
	}
}

func TestFaultAWalkReusesItsConnections(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Depth") == "infinity" {
			http.Error(w, "no", http.StatusForbidden)
			return
		}
		var rs []string
		if strings.Count(r.URL.Path, "/") < 3 { // two levels of 8 folders
			for i := range 8 {
				rs = append(rs, entry(r.URL.Path+fmt.Sprintf("d%d/", i), ""))
			}
		}
		multistatus(w, append(rs, entry(r.URL.Path+"f", `"1"`))...)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	c, err := webdav.New(webdav.Options{URL: srv.URL, Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got := len(list(t, c)); got != 8+64+1+8+64 {
			t.Fatalf("List: %d entries", got)
		}
	}
	// A worker may ask for a connection in the instant before another
	// returns one to the pool, so a few more than Parallel can open; what
	// matters is that 219 listings do not open 219 connections.
	if n := conns.Load(); n > 2*4 {
		t.Fatalf("three walks of 73 folders opened %d connections; about Parallel (4) should stay open", n)
	}
}
