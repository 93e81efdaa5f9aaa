package caldav_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	gocaldav "github.com/emersion/go-webdav/caldav"

	"github.com/holdover/holdover/connectors/caldav"
	hsync "github.com/holdover/holdover/sync"
)

// memBackend is an in-memory go-webdav CalDAV backend: a server without
// sync-collection, getctag or sync-token, to prove the client degrades
// to what such a server offers (ETags and multiget).
type memBackend struct {
	mu   sync.Mutex
	cals map[string]gocaldav.Calendar // by path, with a trailing slash
	objs map[string]memObject         // by path
	// omitPutETag makes PUT answers name no ETag, as a server does when
	// it altered the data.
	omitPutETag bool
}

type memObject struct {
	raw  []byte
	etag string // unquoted; go-webdav quotes it
	mod  time.Time
}

func newMemBackend(cals ...gocaldav.Calendar) *memBackend {
	b := &memBackend{cals: map[string]gocaldav.Calendar{}, objs: map[string]memObject{}}
	for _, c := range cals {
		b.cals[c.Path] = c
	}
	return b
}

func notFound(what string) error {
	return webdav.NewHTTPError(http.StatusNotFound, errors.New(what+" not found"))
}

func (b *memBackend) CurrentUserPrincipal(context.Context) (string, error) { return "/alice/", nil }
func (b *memBackend) CalendarHomeSetPath(context.Context) (string, error) {
	return "/alice/calendars/", nil
}

func (b *memBackend) CreateCalendar(_ context.Context, c *gocaldav.Calendar) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cals[strings.TrimSuffix(c.Path, "/")+"/"] = *c
	return nil
}

func (b *memBackend) ListCalendars(context.Context) ([]gocaldav.Calendar, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []gocaldav.Calendar
	for _, c := range b.cals {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b gocaldav.Calendar) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func (b *memBackend) GetCalendar(_ context.Context, path string) (*gocaldav.Calendar, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.cals[strings.TrimSuffix(path, "/")+"/"]
	if !ok {
		return nil, notFound("calendar")
	}
	return &c, nil
}

func (b *memBackend) object(path string, o memObject) (*gocaldav.CalendarObject, error) {
	cal, err := ical.NewDecoder(bytes.NewReader(o.raw)).Decode()
	if err != nil {
		return nil, err
	}
	return &gocaldav.CalendarObject{Path: path, ModTime: o.mod, ContentLength: int64(len(o.raw)), ETag: o.etag, Data: cal}, nil
}

func (b *memBackend) GetCalendarObject(_ context.Context, path string, _ *gocaldav.CalendarCompRequest) (*gocaldav.CalendarObject, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[path]
	if !ok {
		return nil, notFound("object")
	}
	return b.object(path, o)
}

func (b *memBackend) ListCalendarObjects(_ context.Context, path string, _ *gocaldav.CalendarCompRequest) ([]gocaldav.CalendarObject, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []gocaldav.CalendarObject
	for p, o := range b.objs {
		if strings.HasPrefix(p, strings.TrimSuffix(path, "/")+"/") {
			co, err := b.object(p, o)
			if err != nil {
				return nil, err
			}
			out = append(out, *co)
		}
	}
	return out, nil
}

func (b *memBackend) QueryCalendarObjects(context.Context, string, *gocaldav.CalendarQuery) ([]gocaldav.CalendarObject, error) {
	return nil, webdav.NewHTTPError(http.StatusNotImplemented, errors.New("no queries"))
}

func (b *memBackend) PutCalendarObject(_ context.Context, path string, cal *ical.Calendar, opts *gocaldav.PutCalendarObjectOptions) (*gocaldav.CalendarObject, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	old, exists := b.objs[path]
	failed := webdav.NewHTTPError(http.StatusPreconditionFailed, errors.New("precondition failed"))
	if opts.IfNoneMatch.IsWildcard() && exists {
		return nil, failed
	}
	if opts.IfMatch.IsSet() {
		want, err := opts.IfMatch.ETag()
		if err != nil || !exists || want != old.etag {
			return nil, failed
		}
	}
	var buf bytes.Buffer
	if err := ical.NewEncoder(&buf).Encode(cal); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(buf.Bytes())
	o := memObject{raw: buf.Bytes(), etag: hex.EncodeToString(sum[:8]), mod: time.Now()}
	b.objs[path] = o
	co, err := b.object(path, o)
	if err != nil {
		return nil, err
	}
	if b.omitPutETag {
		co.ETag = ""
	}
	return co, nil
}

func (b *memBackend) DeleteCalendarObject(_ context.Context, path string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[path]; !ok {
		return notFound("object")
	}
	delete(b.objs, path)
	return nil
}

func TestGoWebDAVServerWithoutSyncTokenOrCTag(t *testing.T) {
	b := newMemBackend(
		gocaldav.Calendar{Path: "/alice/calendars/work/", Name: "Work", SupportedComponentSet: []string{"VEVENT"}},
		gocaldav.Calendar{Path: "/alice/calendars/todo/", Name: "Todo", SupportedComponentSet: []string{"VTODO", "VEVENT"}},
	)
	srv := httptest.NewServer(&gocaldav.Handler{Backend: b})
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
	b.mu.Lock()
	b.omitPutETag = true
	b.mu.Unlock()
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
