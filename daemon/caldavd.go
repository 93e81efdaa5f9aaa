package daemon

import (
	"context"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/caldavd"
	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/sync/calsync"
)

// newCalDAVEndpoint is the local CalDAV endpoint (listen.caldav), through
// which calendar apps read and edit the calendar mirror of an account
// with calendar.local (or else mail.local). A retired server finishes
// the requests in progress (10 s at most), so a write a client sent is
// answered.
func newCalDAVEndpoint() *localEndpoint {
	return &localEndpoint{key: "listen.caldav", what: "CalDAV endpoint",
		retire: func(srv localServer) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.(*caldavd.Server).Shutdown(ctx)
		}}
}

// calendarLogin is the local login of an account's calendars:
// calendar.local, else mail.local.
func calendarLogin(a config.Account) *config.LocalAuth {
	if !hasCalendar(a) {
		return nil
	}
	if a.Calendar.Local != nil {
		return a.Calendar.Local
	}
	if a.Mail != nil {
		return a.Mail.Local
	}
	return nil
}

// prepareCalDAV binds the CalDAV endpoint for cfg when it differs from
// the running one (nil when nothing changes).
func (d *Daemon) prepareCalDAV(cfg *config.Config) (*endpointSwitch, error) {
	keys, logins := localLogins(cfg, calendarLogin)
	return d.caldav.prepare(d.log, cfg.Listen.CalDAV, keys, cfg.Listen.TLS, func() localServer {
		return caldavd.New(caldavd.Options{DB: d.db, Auth: locallogin.Static(logins), Log: d.log.With("endpoint", "caldav"),
			TLSConfig: d.localTLSConfig(cfg),
			Local:     &calsync.Local{DB: d.db, Notify: d.Nudge}})
	})
}
