package sync

import (
	"context"
	"errors"
)

// RemoteCalendar is a calendar collection as the CalDAV server lists it.
type RemoteCalendar struct {
	Href       string   // absolute path on the server, with a trailing slash ("/alice/work/")
	Name       string   // DAV:displayname; "" when the server has none
	Color      string   // calendar-color (Apple's property), "" when none
	Components []string // supported-calendar-component-set: "VEVENT", "VTODO", ...; nil when not said
	CTag       string   // getctag (calendarserver.org), "" when not offered
	SyncToken  string   // DAV:sync-token, "" when sync-collection is not offered
}

// ObjectRef names a calendar object resource and its version.
type ObjectRef struct {
	Href string // absolute path on the server
	ETag string // as the server sent it, quotes included; "" when not said
}

// CalObject is a calendar object resource with its iCalendar data, exactly
// as the server sent it.
type CalObject struct {
	Href string
	ETag string
	Data []byte
}

// CalChanges is what a sync-collection REPORT returned.
type CalChanges struct {
	Changed   []ObjectRef // created or modified since the token
	Removed   []string    // hrefs deleted since the token
	SyncToken string      // the token to give next time
	// Truncated is set when the server answered 507 for the collection
	// itself (RFC 6578 §3.6): more changes wait; ask again with SyncToken.
	Truncated bool
}

// ErrInvalidSyncToken is returned by CalendarRemote.Changes when the server
// refuses the token (the DAV:valid-sync-token precondition): the engine
// falls back to a full ETag comparison.
var ErrInvalidSyncToken = errors.New("the server no longer accepts the sync token")

// ErrCalendarGone is wrapped by errors about a calendar collection the
// server no longer has (404/410 on the collection).
var ErrCalendarGone = errors.New("the calendar is gone from the server")

// PutCondition is the precondition of a conditional PUT.
type PutCondition struct {
	// IfMatch is the ETag the change was based on (an edit); "" with
	// Create set for a new object.
	IfMatch string
	// Create sends If-None-Match: * (the href must be free).
	Create bool
	// Overwrite sends no precondition at all. Only for a server that
	// gives no ETags, after the caller compared size and time itself: a
	// connector refuses a PUT with neither IfMatch, Create nor Overwrite.
	Overwrite bool
}

// CalendarRemote is an authenticated CalDAV account. Implementations are
// safe for use by one goroutine at a time. Errors are classified with the
// kinds of this package: 412 is Conflict, 401/403 Auth, 5xx, 507, 429,
// timeouts and resets Transient, other 4xx Permanent; an error about a
// collection that is gone wraps ErrCalendarGone.
type CalendarRemote interface {
	// Calendars discovers and lists the account's calendars.
	Calendars(ctx context.Context) ([]RemoteCalendar, error)
	// Changes runs sync-collection on a calendar since token ("" for all).
	// A refused token is ErrInvalidSyncToken.
	Changes(ctx context.Context, calendar, token string) (CalChanges, error)
	// CTag reads a calendar's getctag and sync-token (one PROPFIND,
	// depth 0): the cheap "did anything change" question.
	CTag(ctx context.Context, calendar string) (ctag, syncToken string, err error)
	// ETags lists every object in a calendar with its ETag (PROPFIND,
	// depth 1).
	ETags(ctx context.Context, calendar string) ([]ObjectRef, error)
	// Multiget fetches the named objects of a calendar with
	// calendar-multiget, in batches; objects the server no longer has are
	// skipped.
	Multiget(ctx context.Context, calendar string, hrefs []string, fn func(CalObject) error) error
	// Get fetches one object.
	Get(ctx context.Context, href string) (CalObject, error)
	// Put stores an object under a precondition and returns its new ETag,
	// read from the response or, when the server omits it, by a PROPFIND.
	Put(ctx context.Context, href string, data []byte, cond PutCondition) (etag string, err error)
	// Delete removes an object if its ETag still is ifMatch ("" for
	// unconditionally).
	Delete(ctx context.Context, href, ifMatch string) error
}

// ErrObjectNotFound is wrapped by CalendarRemote.Get for an object the
// server does not have (404 or 410).
var ErrObjectNotFound = errors.New("no such calendar object on the server")

// CalendarHinter is implemented by a CalendarRemote that can ask for less
// when told what earlier passes learned (kept in the store, so a new
// process benefits too).
type CalendarHinter interface {
	// HintSyncTokens says every calendar had a sync-token last time: the
	// listing need not ask for getctag (which some servers compute at a
	// cost), only for sync-token. A calendar that turns out to have none
	// is still synced (by ETags) and the next listing asks again.
	HintSyncTokens(all bool)
}
