package davhttp_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/holdover/holdover/connectors/internal/davhttp"
)

type etagProp struct {
	ETag *string `xml:"DAV: getetag"`
}

func TestReadMultistatusHandsOverOneResponseAtATimeWithOnlySuccessfulProperties(t *testing.T) {
	body := `<?xml version="1.0"?><D:multistatus xmlns:D="DAV:">
<D:response><D:href>/a</D:href>
  <D:propstat><D:prop><D:getetag/></D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>
  <D:propstat><D:prop><D:getetag>"1"</D:getetag></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>
<D:response><D:href>/b</D:href><D:status>HTTP/1.1 403 Forbidden</D:status></D:response>
<D:sync-token>tok</D:sync-token></D:multistatus>`
	var got []string
	tok, err := davhttp.ReadMultistatus(strings.NewReader(body), func(r *davhttp.Response[etagProp]) error {
		tags := 0
		for p := range r.OK() {
			if p.ETag != nil {
				tags++
				got = append(got, r.Href()+"="+*p.ETag)
			}
		}
		if tags == 0 {
			got = append(got, r.Href()+":"+r.Status)
		}
		return nil
	})
	if err != nil || tok != "tok" {
		t.Fatalf("token %q, %v", tok, err)
	}
	if want := `/a="1" /b:HTTP/1.1 403 Forbidden`; strings.Join(got, " ") != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestReadMultistatusTellsCallbackErrorsFromReadErrors(t *testing.T) {
	stop := errors.New("stop")
	_, err := davhttp.ReadMultistatus(strings.NewReader(`<multistatus xmlns="DAV:"><response><href>/a</href></response></multistatus>`),
		func(*davhttp.Response[etagProp]) error { return stop })
	if davhttp.CallbackErr(err) != stop {
		t.Fatalf("callback error: %v", err)
	}
	_, err = davhttp.ReadMultistatus(strings.NewReader(`<html>maintenance</html>`), func(*davhttp.Response[etagProp]) error { return nil })
	if !errors.Is(err, davhttp.ErrNotMultistatus) || davhttp.CallbackErr(err) != nil {
		t.Fatalf("not a multistatus: %v", err)
	}
	_, err = davhttp.ReadMultistatus(strings.NewReader(`<multistatus xmlns="DAV:"><response><href>/a`), func(*davhttp.Response[etagProp]) error { return nil })
	if err == nil || davhttp.CallbackErr(err) != nil {
		t.Fatalf("cut answer: %v", err)
	}
}

func TestOneLineCutsAtARune(t *testing.T) {
	if got := davhttp.OneLine("a\n  b\tcé", 5); got != "a b c…" {
		t.Fatalf("OneLine = %q", got)
	}
}

// killSecondRequest serves HTTP/1.1 by hand: on its first connection it
// answers one request with keep-alive, then reads the next and hangs up
// without an answer (a connection that died while idle in the pool);
// every later connection is answered normally.
func killSecondRequest(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	answer := func(br *bufio.Reader, c net.Conn) bool {
		req, err := http.ReadRequest(br)
		if err != nil {
			return false
		}
		io.Copy(io.Discard, req.Body)
		fmt.Fprint(c, "HTTP/1.1 207 Multi-Status\r\nContent-Type: application/xml\r\nContent-Length: 0\r\n\r\n")
		return true
	}
	go func() {
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(first bool) {
				defer c.Close()
				br := bufio.NewReader(c)
				if !answer(br, c) || !first {
					for answer(br, c) {
					}
					return
				}
				http.ReadRequest(br) // the reused connection's request: never answered
			}(n == 0)
		}
	}()
	return "http://" + ln.Addr().String() + "/"
}

func TestAReadOnlyRequestOnADeadKeptConnectionIsSentAgain(t *testing.T) {
	for _, tc := range []struct {
		method string
		mark   bool
		wantOK bool
	}{
		{"PROPFIND", true, true},
		{"REPORT", true, true},
		{"PROPFIND", false, false}, // what net/http does unmarked: the test can fail
		{"PUT", true, false},       // writes are never replayed
	} {
		t.Run(fmt.Sprintf("%s marked=%v", tc.method, tc.mark), func(t *testing.T) {
			url := killSecondRequest(t)
			client := &http.Client{Transport: &http.Transport{}}
			do := func() error {
				req, _ := http.NewRequest(tc.method, url, strings.NewReader("<propfind/>"))
				if tc.mark {
					davhttp.MarkReplayable(req)
				}
				resp, err := client.Do(req)
				if err == nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				return err
			}
			if err := do(); err != nil {
				t.Fatalf("first request: %v", err)
			}
			if err := do(); (err == nil) != tc.wantOK {
				t.Fatalf("second request on the dead connection: %v, want ok=%v", err, tc.wantOK)
			}
		})
	}
}
