package davhttp_test

import (
	"errors"
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
