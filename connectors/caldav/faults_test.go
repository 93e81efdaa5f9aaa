package caldav_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/caldav"
	hsync "github.com/holdover/holdover/sync"
)

// Faults a real server will not produce on demand, from an httptest
// server: used for fault injection only; the protocol is tested against
// Radicale and go-webdav's server.

const fakePassword = "fake-S3cret"

func fakeServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *caldav.Client) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := caldav.New(caldav.Config{
		URL: srv.URL + "/cal/", Username: "u",
		Password: func(context.Context) (string, error) { return fakePassword, nil },
		Timeout:  2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func TestFaultStatusesAreClassified(t *testing.T) {
	for _, tc := range []struct {
		code int
		want hsync.Kind
	}{
		{http.StatusServiceUnavailable, hsync.Transient},
		{http.StatusInternalServerError, hsync.Transient},
		{http.StatusBadGateway, hsync.Transient},
		{http.StatusInsufficientStorage, hsync.Transient},
		{http.StatusTooManyRequests, hsync.Transient},
		{http.StatusRequestTimeout, hsync.Transient},
		{http.StatusNotImplemented, hsync.Permanent},
		{http.StatusBadRequest, hsync.Permanent},
		{http.StatusUnsupportedMediaType, hsync.Permanent},
		{http.StatusPreconditionFailed, hsync.Conflict},
		{http.StatusUnauthorized, hsync.Auth},
		{http.StatusForbidden, hsync.Auth},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "nope", tc.code)
			})
			_, err := c.Put(context.Background(), "/cal/x.ics", []byte(event("x", "x")), hsync.PutCondition{Create: true})
			kindIs(t, "PUT", err, tc.want)
			_, err = c.ETags(context.Background(), "/cal/")
			kindIs(t, "PROPFIND", err, tc.want)
		})
	}
}

func TestFaultForbiddenWithAPreconditionIsPermanentNotAuth(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, `<?xml version="1.0"?><D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:supported-calendar-component/></D:error>`)
	})
	_, err := c.Put(context.Background(), "/cal/x.ics", []byte(event("x", "x")), hsync.PutCondition{Create: true})
	kindIs(t, "PUT of a component the calendar refuses", err, hsync.Permanent)
	if !strings.Contains(err.Error(), "supported-calendar-component") {
		t.Errorf("error does not name the precondition: %v", err)
	}
}

func TestFaultResetTimeoutAndCancelAreTransient(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/cal/reset.ics":
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				panic(err)
			}
			conn.(*net.TCPConn).SetLinger(0) // RST, not FIN
			conn.Close()
		case "/cal/hang.ics":
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	})
	ctx := context.Background()
	_, err := c.Get(ctx, "/cal/reset.ics")
	kindIs(t, "connection reset", err, hsync.Transient)

	start := time.Now()
	_, err = c.Get(ctx, "/cal/hang.ics")
	kindIs(t, "no answer", err, hsync.Transient)
	if !strings.Contains(err.Error(), "no answer within 2s") || time.Since(start) > 10*time.Second {
		t.Errorf("timeout: %v after %v", err, time.Since(start))
	}

	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err = c.Get(cctx, "/cal/hang.ics")
	kindIs(t, "cancelled", err, hsync.Transient)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancel: %v does not wrap context.Canceled", err)
	}
}

func TestFaultTruncatedSyncCollection(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml; charset=utf-8")
		w.WriteHeader(http.StatusMultiStatus)
		// RFC 6578 §3.6: the collection itself reported with 507.
		io.WriteString(w, `<?xml version="1.0" encoding="utf-8"?>
<D:multistatus xmlns:D="DAV:">
  <D:response><D:href>http://`+r.Host+`/cal/a%40b.ics</D:href>
    <D:propstat><D:prop><D:getetag>bare-etag</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
  <D:response><D:href>/cal/old.ics</D:href><D:status>HTTP/1.1 404 Not Found</D:status></D:response>
  <D:response><D:href>/cal</D:href><D:status>HTTP/1.1 507 Insufficient Storage</D:status></D:response>
  <D:sync-token>tok-2</D:sync-token>
</D:multistatus>`)
	})
	ch, err := c.Changes(context.Background(), "/cal/", "tok-1")
	if err != nil {
		t.Fatal(err)
	}
	if !ch.Truncated || ch.SyncToken != "tok-2" || len(ch.Changed) != 1 || len(ch.Removed) != 1 {
		t.Fatalf("Changes = %+v", ch)
	}
	if ch.Changed[0] != (hsync.ObjectRef{Href: "/cal/a@b.ics", ETag: `"bare-etag"`}) || ch.Removed[0] != "/cal/old.ics" {
		t.Errorf("Changes = %+v", ch)
	}
}

func TestFaultSyncTokenRefusedWith409(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		w.WriteHeader(http.StatusConflict)
		io.WriteString(w, `<error xmlns="DAV:"><valid-sync-token/></error>`)
	})
	_, err := c.Changes(context.Background(), "/cal/", "old")
	if !errors.Is(err, hsync.ErrInvalidSyncToken) {
		t.Fatalf("409 valid-sync-token: %v", err)
	}
}

func TestFaultServerTextIsScrubbedOfThePassword(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, pw, _ := r.BasicAuth()
		http.Error(w, "bad request from a user with password "+pw, http.StatusBadRequest)
	})
	_, err := c.Get(context.Background(), "/cal/x.ics")
	kindIs(t, "400", err, hsync.Permanent)
	if strings.Contains(err.Error(), fakePassword) || !strings.Contains(err.Error(), "[redacted]") {
		t.Fatalf("error text: %v", err)
	}
}

func TestFaultRotatedPasswordIsFetchedAgainOnce(t *testing.T) {
	var accepted atomic.Value
	accepted.Store("old")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, pw, _ := r.BasicAuth(); pw != accepted.Load().(string) {
			http.Error(w, "who are you", http.StatusUnauthorized)
			return
		}
		w.Header().Set("ETag", `"1"`)
		io.WriteString(w, event("x", "x"))
	}))
	defer srv.Close()
	var current atomic.Value
	current.Store("old")
	calls := 0
	c, _ := caldav.New(caldav.Config{URL: srv.URL, Username: "u",
		Password: func(context.Context) (string, error) { calls++; return current.Load().(string), nil }})
	ctx := context.Background()
	if _, err := c.Get(ctx, "/cal/x.ics"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, "/cal/x.ics"); err != nil || calls != 1 {
		t.Fatalf("second request: %v; %d password fetches, want the cached one", err, calls)
	}
	accepted.Store("new")
	current.Store("new")
	if _, err := c.Get(ctx, "/cal/x.ics"); err != nil || calls != 2 {
		t.Fatalf("after rotation: %v; %d password fetches, want 2", err, calls)
	}
}

func TestFaultRedirectsAndHrefsToAnotherHostAreRefused(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		elsewhere.Add(1)
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/.well-known/caldav":
			http.Redirect(w, r, other.URL+"/principal/", http.StatusMovedPermanently)
		default:
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/cal/</D:href>
<D:propstat><D:prop><D:getetag>"c"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>`+other.URL+`/cal/x.ics</D:href>
<D:propstat><D:prop><D:getetag>"x"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`)
		}
	}))
	defer srv.Close()
	c, _ := caldav.New(caldav.Config{URL: srv.URL, Username: "u",
		Password: func(context.Context) (string, error) { return fakePassword, nil }})
	_, err := c.Calendars(context.Background())
	kindIs(t, "well-known redirect to another host", err, hsync.Permanent)
	if !strings.Contains(err.Error(), "another host") {
		t.Errorf("redirect: %v", err)
	}
	_, err = c.ETags(context.Background(), "/cal/")
	kindIs(t, "an href on another host", err, hsync.Permanent)
	_, err = c.Get(context.Background(), other.URL+"/cal/x.ics")
	kindIs(t, "Get of another host's URL", err, hsync.Permanent)
	if n := elsewhere.Load(); n != 0 {
		t.Fatalf("the other host received %d requests", n)
	}
}

func TestFaultAnswerThatIsNoMultistatusIsTransient(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMultiStatus)
		io.WriteString(w, "<html>maintenance</html>")
	})
	_, err := c.ETags(context.Background(), "/cal/")
	kindIs(t, "207 with HTML", err, hsync.Transient)
}

func TestFaultPutWithoutETagReadsItByPropfind(t *testing.T) {
	var propfinds atomic.Int32
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "PUT":
			w.WriteHeader(http.StatusCreated) // altered the data: no ETag
		case "PROPFIND":
			propfinds.Add(1)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusMultiStatus)
			io.WriteString(w, `<D:multistatus xmlns:D="DAV:"><D:response><D:href>/cal/x.ics</D:href>
<D:propstat><D:prop><D:getetag>"after"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>`)
		}
	})
	tag, err := c.Put(context.Background(), "/cal/x.ics", []byte(event("x", "x")), hsync.PutCondition{Create: true})
	if err != nil || tag != `"after"` || propfinds.Load() != 1 {
		t.Fatalf("Put = %q, %v after %d PROPFINDs", tag, err, propfinds.Load())
	}
}

func TestFaultETagsLeavesOutTheCollectionAndSubCollections(t *testing.T) {
	_, c := fakeServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusMultiStatus)
		prop := func(href, rtype, etag string) string {
			return `<D:response><D:href>` + href + `</D:href><D:propstat><D:prop><D:resourcetype>` + rtype +
				`</D:resourcetype><D:getetag>` + etag + `</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`
		}
		io.WriteString(w, `<D:multistatus xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">`+
			prop("/cal", `<D:collection/><C:calendar/>`, `"ctag"`)+
			prop("/cal/sub/", `<D:collection/>`, `"sub"`)+
			prop("x.ics", ``, `"x"`)+ // relative to the request URL
			prop("/cal/y.ics", ``, `y`)+
			`<D:response><D:href>/cal/z.ics</D:href><D:status>HTTP/1.1 403 Forbidden</D:status></D:response>`+
			`</D:multistatus>`)
	})
	refs, err := c.ETags(context.Background(), "/cal")
	if err != nil {
		t.Fatal(err)
	}
	want := []hsync.ObjectRef{{Href: "/cal/x.ics", ETag: `"x"`}, {Href: "/cal/y.ics", ETag: `"y"`}}
	if len(refs) != 2 || refs[0] != want[0] || refs[1] != want[1] {
		t.Fatalf("ETags = %+v, want %+v", refs, want)
	}
}
