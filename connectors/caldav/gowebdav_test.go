package caldav_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	gocaldav "github.com/emersion/go-webdav/caldav"

	"github.com/holdover/holdover/connectors/caldav"
	"github.com/holdover/holdover/internal/davmem"
	hsync "github.com/holdover/holdover/sync"
)

func TestGoWebDAVServerWithoutSyncTokenOrCTag(t *testing.T) {
	b := davmem.New(
		gocaldav.Calendar{Path: "/alice/calendars/work/", Name: "Work", SupportedComponentSet: []string{"VEVENT"}},
		gocaldav.Calendar{Path: "/alice/calendars/todo/", Name: "Todo", SupportedComponentSet: []string{"VTODO", "VEVENT"}},
	)
	srv := httptest.NewServer(b.Handler("", ""))
	defer srv.Close()
	ctx := context.Background()
	c, err := caldav.New(caldav.Config{URL: srv.URL}) // go-webdav has no auth of its own
	if err != nil {
		t.Fatal(err)
	}

	// Discovery from the root: /.well-known/caldav answers 308 to the
	// principal, which names the home.
	cals, err := c.Calendars(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cals) != 2 || cals[0].Href != "/alice/calendars/todo/" || cals[1].Href != "/alice/calendars/work/" {
		t.Fatalf("Calendars = %+v", cals)
	}
	if cals[1].Name != "Work" || !slices.Equal(cals[1].Components, []string{"VEVENT"}) || !slices.Equal(cals[0].Components, []string{"VTODO", "VEVENT"}) {
		t.Errorf("Calendars = %+v", cals)
	}
	// The signal for the engine: no sync-token (nor ctag), so it must
	// not call Changes but compare ETags.
	for _, cal := range cals {
		if cal.SyncToken != "" || cal.CTag != "" {
			t.Errorf("%s: sync-token %q ctag %q from a server that has neither", cal.Href, cal.SyncToken, cal.CTag)
		}
	}
	work := cals[1].Href
	ctag, token, err := c.CTag(ctx, work)
	if err != nil || ctag != "" || token != "" {
		t.Errorf("CTag = %q, %q, %v; want both empty and no error", ctag, token, err)
	}
	_, err = c.Changes(ctx, work, "")
	kindIs(t, "sync-collection on a server without it", err, hsync.Permanent)
	if errors.Is(err, hsync.ErrInvalidSyncToken) || errors.Is(err, hsync.ErrCalendarGone) {
		t.Errorf("Changes: %v must not look like a refused token or a removed calendar", err)
	}

	// Conditional writes, ETags and multiget work.
	tags := map[string]string{}
	for _, name := range []string{"a.ics", "b c.ics", "d@e.ics"} {
		tag, err := c.Put(ctx, work+name, []byte(event(name, name)), hsync.PutCondition{Create: true})
		if err != nil || tag == "" {
			t.Fatalf("create %s: %q, %v", name, tag, err)
		}
		tags[name] = tag
	}
	_, err = c.Put(ctx, work+"a.ics", []byte(event("a.ics", "again")), hsync.PutCondition{Create: true})
	kindIs(t, "create on a taken href", err, hsync.Conflict)
	v2, err := c.Put(ctx, work+"a.ics", []byte(event("a.ics", "v2")), hsync.PutCondition{IfMatch: tags["a.ics"]})
	if err != nil || v2 == tags["a.ics"] {
		t.Fatalf("edit: %q, %v", v2, err)
	}
	_, err = c.Put(ctx, work+"a.ics", []byte(event("a.ics", "stale")), hsync.PutCondition{IfMatch: tags["a.ics"]})
	kindIs(t, "edit with a stale ETag", err, hsync.Conflict)

	refs, err := c.ETags(ctx, work)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hrefsOf(refs), []string{work + "a.ics", work + "b%20c.ics", work + "d@e.ics"}; !slices.Equal(got, want) {
		t.Fatalf("ETags hrefs %v, want %v", got, want)
	}
	byHref := map[string]string{}
	for _, r := range refs {
		byHref[r.Href] = r.ETag
	}
	n := 0
	err = c.Multiget(ctx, work, append(hrefsOf(refs), work+"gone.ics"), func(o hsync.CalObject) error {
		n++
		if o.ETag != byHref[o.Href] || !strings.Contains(string(o.Data), "BEGIN:VEVENT") {
			t.Errorf("multiget %s: ETag %s (PROPFIND %s), data %.60q", o.Href, o.ETag, byHref[o.Href], o.Data)
		}
		return nil
	})
	if err != nil || n != 3 {
		t.Fatalf("Multiget: %d objects, %v", n, err)
	}
	if byHref[work+"a.ics"] != v2 {
		t.Errorf("PROPFIND ETag %s, PUT said %s", byHref[work+"a.ics"], v2)
	}

	// A PUT answer without ETag: the client reads it by PROPFIND.
	b.OmitPutETag(true)
	tag, err := c.Put(ctx, work+"f.ics", []byte(event("f.ics", "f")), hsync.PutCondition{Create: true})
	if err != nil || tag == "" {
		t.Fatalf("create without ETag in the answer: %q, %v", tag, err)
	}
	if err := c.Delete(ctx, work+"f.ics", tag); err != nil {
		t.Fatal(err)
	}

	// Discovery from the calendar's own URL.
	c2, _ := caldav.New(caldav.Config{URL: srv.URL + work})
	if cals, err := c2.Calendars(ctx); err != nil || len(cals) != 1 || cals[0].Href != work {
		t.Fatalf("Calendars from %s = %+v, %v", work, cals, err)
	}
}
