// Package davmem is an in-memory CalDAV server (go-webdav's caldav
// handler over a map): the embedded calendar provider of the demo and of
// fast tests. It has what go-webdav's server has and nothing more: no
// sync-collection, no getctag, no sync-token, and DELETE ignores
// If-Match; PUT honours If-Match and If-None-Match. It is not a store for
// real data: everything is lost when the process ends.
package davmem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	gocaldav "github.com/emersion/go-webdav/caldav"
)

// Backend is the in-memory go-webdav CalDAV backend.
type Backend struct {
	mu   sync.Mutex
	cals map[string]gocaldav.Calendar // by path, with a trailing slash
	objs map[string]object            // by path
	// omitPutETag makes PUT answers name no ETag, as a server does when
	// it altered the data.
	omitPutETag bool
}

type object struct {
	raw  []byte
	etag string // unquoted; go-webdav quotes it
	mod  time.Time
}

// New returns a backend holding these (empty) calendars of the user
// "alice" (principal /alice/, calendar home /alice/calendars/).
func New(cals ...gocaldav.Calendar) *Backend {
	b := &Backend{cals: map[string]gocaldav.Calendar{}, objs: map[string]object{}}
	for _, c := range cals {
		b.cals[c.Path] = c
	}
	return b
}

func notFound(what string) error {
	return webdav.NewHTTPError(http.StatusNotFound, errors.New(what+" not found"))
}

func (b *Backend) CurrentUserPrincipal(context.Context) (string, error) { return "/alice/", nil }
func (b *Backend) CalendarHomeSetPath(context.Context) (string, error) {
	return "/alice/calendars/", nil
}

func (b *Backend) CreateCalendar(_ context.Context, c *gocaldav.Calendar) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.cals[strings.TrimSuffix(c.Path, "/")+"/"] = *c
	return nil
}

func (b *Backend) ListCalendars(context.Context) ([]gocaldav.Calendar, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []gocaldav.Calendar
	for _, c := range b.cals {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b gocaldav.Calendar) int { return strings.Compare(a.Path, b.Path) })
	return out, nil
}

func (b *Backend) GetCalendar(_ context.Context, path string) (*gocaldav.Calendar, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	c, ok := b.cals[strings.TrimSuffix(path, "/")+"/"]
	if !ok {
		return nil, notFound("calendar")
	}
	return &c, nil
}

func (b *Backend) calObject(path string, o object) (*gocaldav.CalendarObject, error) {
	cal, err := ical.NewDecoder(bytes.NewReader(o.raw)).Decode()
	if err != nil {
		return nil, err
	}
	return &gocaldav.CalendarObject{Path: path, ModTime: o.mod, ContentLength: int64(len(o.raw)), ETag: o.etag, Data: cal}, nil
}

func (b *Backend) GetCalendarObject(_ context.Context, path string, _ *gocaldav.CalendarCompRequest) (*gocaldav.CalendarObject, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objs[path]
	if !ok {
		return nil, notFound("object")
	}
	return b.calObject(path, o)
}

func (b *Backend) ListCalendarObjects(_ context.Context, path string, _ *gocaldav.CalendarCompRequest) ([]gocaldav.CalendarObject, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []gocaldav.CalendarObject
	for p, o := range b.objs {
		if strings.HasPrefix(p, strings.TrimSuffix(path, "/")+"/") {
			co, err := b.calObject(p, o)
			if err != nil {
				return nil, err
			}
			out = append(out, *co)
		}
	}
	return out, nil
}

func (b *Backend) QueryCalendarObjects(context.Context, string, *gocaldav.CalendarQuery) ([]gocaldav.CalendarObject, error) {
	return nil, webdav.NewHTTPError(http.StatusNotImplemented, errors.New("no queries"))
}

func (b *Backend) PutCalendarObject(_ context.Context, path string, cal *ical.Calendar, opts *gocaldav.PutCalendarObjectOptions) (*gocaldav.CalendarObject, error) {
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
	o := object{raw: buf.Bytes(), etag: hex.EncodeToString(sum[:8]), mod: time.Now()}
	b.objs[path] = o
	co, err := b.calObject(path, o)
	if err != nil {
		return nil, err
	}
	if b.omitPutETag {
		co.ETag = ""
	}
	return co, nil
}

func (b *Backend) DeleteCalendarObject(_ context.Context, path string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objs[path]; !ok {
		return notFound("object")
	}
	delete(b.objs, path)
	return nil
}

// Handler serves the backend, requiring HTTP Basic auth with user and
// password when user is not "" (go-webdav has no auth of its own).
func (b *Backend) Handler(user, password string) http.Handler {
	h := &gocaldav.Handler{Backend: b}
	if user == "" {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="davmem"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Put stores raw iCalendar data at path, as another client would
// (unconditionally); it returns the new ETag.
func (b *Backend) Put(path string, data []byte) (string, error) {
	cal, err := ical.NewDecoder(bytes.NewReader(data)).Decode()
	if err != nil {
		return "", err
	}
	o, err := b.PutCalendarObject(context.Background(), path, cal, &gocaldav.PutCalendarObjectOptions{})
	if err != nil {
		return "", err
	}
	return o.ETag, nil
}

// Objects returns the raw data of every object under a calendar path.
func (b *Backend) Objects(calendar string) map[string][]byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string][]byte{}
	for p, o := range b.objs {
		if strings.HasPrefix(p, strings.TrimSuffix(calendar, "/")+"/") {
			out[p] = bytes.Clone(o.raw)
		}
	}
	return out
}

// OmitPutETag makes PUT answers name no ETag (or name it again), as a
// server does when it altered the data.
func (b *Backend) OmitPutETag(omit bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.omitPutETag = omit
}
