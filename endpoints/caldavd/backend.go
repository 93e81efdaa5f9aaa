package caldavd

import (
	"bytes"
	"context"
	"errors"
	"net/http"

	goical "github.com/emersion/go-ical"
	"github.com/emersion/go-webdav"
	"github.com/emersion/go-webdav/caldav"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

// backend is go-webdav's view of the store, for what go-webdav serves:
// discovery (the principal), OPTIONS, MKCOL (refused) and calendar-query.
// Writes never come through here (route sends them to put and delete).
type backend struct{ s *Server }

var (
	_ caldav.Backend = (*backend)(nil)

	errNotFound = webdav.NewHTTPError(http.StatusNotFound, errors.New("not found"))
	errMirror   = webdav.NewHTTPError(http.StatusForbidden, errors.New("calendars are created and removed at the provider; holdover mirrors them"))
)

func (b *backend) CurrentUserPrincipal(ctx context.Context) (string, error) {
	return principalPath(accountOf(ctx)), nil
}

func (b *backend) CalendarHomeSetPath(ctx context.Context) (string, error) {
	return homePath(accountOf(ctx)), nil
}

func (b *backend) CreateCalendar(ctx context.Context, calendar *caldav.Calendar) error {
	return errMirror
}

func (b *backend) calendar(ctx context.Context, account string, c store.Calendar) caldav.Calendar {
	return caldav.Calendar{Path: calendarPath(account, c), Name: c.Name, SupportedComponentSet: c.Components, MaxResourceSize: b.s.opts.MaxBody}
}

func (b *backend) ListCalendars(ctx context.Context) ([]caldav.Calendar, error) {
	account := accountOf(ctx)
	cals, err := b.s.opts.DB.Calendars(ctx, account)
	if err != nil {
		return nil, err
	}
	out := make([]caldav.Calendar, 0, len(cals))
	for _, c := range cals {
		out = append(out, b.calendar(ctx, account, c))
	}
	return out, nil
}

// target resolves a path go-webdav hands over.
func (b *backend) target(ctx context.Context, p string, kind int) (target, error) {
	r := (&http.Request{}).WithContext(ctx)
	t, err := b.s.resolve(r, p)
	if errors.Is(err, errNotHere) || err == nil && t.kind != kind {
		return t, errNotFound
	}
	return t, err
}

func (b *backend) GetCalendar(ctx context.Context, p string) (*caldav.Calendar, error) {
	t, err := b.target(ctx, p, kindCalendar)
	if err != nil {
		return nil, err
	}
	c := b.calendar(ctx, t.account, t.cal)
	return &c, nil
}

// GetCalendarObject serves OPTIONS, which only asks whether the object
// is there: its data is not parsed.
func (b *backend) GetCalendarObject(ctx context.Context, p string, req *caldav.CalendarCompRequest) (*caldav.CalendarObject, error) {
	t, err := b.target(ctx, p, kindObject)
	if err != nil {
		return nil, err
	}
	o, err := b.s.opts.DB.LocalCalObjectAt(ctx, t.cal.ID, hrefs(t.cal, t.name)...)
	if errors.Is(err, store.ErrNotFound) || err == nil && o.LocalState == store.CalDeleted {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	co := b.object(t, o)
	if co.Data == nil {
		co.Data = goical.NewCalendar() // unreadable: exists, but cannot be served parsed
	}
	return &co, nil
}

// object is an object as go-webdav takes it, parsed (Data nil when its
// data cannot be).
func (b *backend) object(t target, o store.LocalCalObject) caldav.CalendarObject {
	co := caldav.CalendarObject{Path: objectPath(t.account, t.cal, o.Href), ModTime: o.UpdatedAt, ContentLength: o.Size,
		ETag: calsync.LocalETag(o.LocalSeq)}
	if o.Data != nil && !o.Bad {
		if cal, err := goical.NewDecoder(bytes.NewReader(o.Data)).Decode(); err == nil {
			co.Data = cal
		}
	}
	return co
}

// ListCalendarObjects is reached only by a PROPFIND of Depth infinity
// on the principal; objects that cannot be parsed are left out there.
func (b *backend) ListCalendarObjects(ctx context.Context, p string, req *caldav.CalendarCompRequest) ([]caldav.CalendarObject, error) {
	t, err := b.target(ctx, p, kindCalendar)
	if err != nil {
		return nil, err
	}
	objs, err := b.s.opts.DB.LocalCalObjects(ctx, t.cal.ID, true, 0, 0)
	if err != nil {
		return nil, err
	}
	var out []caldav.CalendarObject
	for _, o := range objs {
		if co := b.object(t, o); co.Data != nil {
			out = append(out, co)
		}
	}
	return out, nil
}

// QueryCalendarObjects answers calendar-query with go-webdav's filter
// over the calendar's readable objects (an unreadable one matches no
// filter; sync-collection and PROPFIND still list it).
func (b *backend) QueryCalendarObjects(ctx context.Context, p string, query *caldav.CalendarQuery) ([]caldav.CalendarObject, error) {
	all, err := b.ListCalendarObjects(ctx, p, nil)
	if err != nil {
		return nil, err
	}
	return caldav.Filter(query, all)
}

func (b *backend) PutCalendarObject(ctx context.Context, p string, calendar *goical.Calendar, opts *caldav.PutCalendarObjectOptions) (*caldav.CalendarObject, error) {
	return nil, errMirror
}

func (b *backend) DeleteCalendarObject(ctx context.Context, p string) error {
	return errMirror
}
