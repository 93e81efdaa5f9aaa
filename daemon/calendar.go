package daemon

import (
	"log/slog"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/caldav"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/outbox"
)

// hasCalendar reports whether an account mirrors calendars.
func hasCalendar(a config.Account) bool { return a.Calendar != nil && a.Calendar.CalDAV != nil }

// calRemote is the CalDAV client of an account.
func calRemote(a config.Account) (hsync.CalendarRemote, error) {
	dav := a.Calendar.CalDAV
	return caldav.New(caldav.Config{URL: dav.URL, Username: dav.Username, Password: dav.Secret.Resolve})
}

// calEngine wires an account's CalDAV settings to a calendar engine.
func calEngine(a config.Account, db *store.DB, log *slog.Logger) (*calsync.Engine, error) {
	remote, err := calRemote(a)
	if err != nil {
		return nil, err
	}
	return calsync.New(calsync.Options{Account: a.Name, DB: db, Remote: remote, Log: log}), nil
}

// calWorker replays an account's calendar actions.
func calWorker(db *store.DB, a config.Account, remote hsync.CalendarRemote, log *slog.Logger, retry backoff.Policy) *outbox.Worker {
	return outbox.New(outbox.Worker{
		DB: db, Account: a.Name, Service: "caldav", Kinds: outbox.ServiceKinds["caldav"],
		Exec:   &calsync.Executor{DB: db, Account: a.Name, Remote: remote, Policy: a.Calendar.Conflict},
		Health: &hsync.Health{DB: db}, Log: log, Policy: retry,
	})
}
