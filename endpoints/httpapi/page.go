package httpapi

import (
	"embed"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"time"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
)

// The status page: server-rendered from the same documents as the API, so
// it shows nothing the API would not. It works without JavaScript (it is
// read-only then); page.js refreshes it and makes the buttons call the
// API.

//go:embed web
var webFS embed.FS

var pageTmpl = template.Must(template.New("page.html").Funcs(template.FuncMap{
	"clock":    func(t time.Time) string { return apiv1.Clock(t, time.Now()) },
	"ago":      func(t time.Time) string { return apiv1.Duration(time.Since(t)) },
	"dur":      func(s int64) string { return apiv1.Duration(time.Duration(s) * time.Second) },
	"queue":    apiv1.QueueWords,
	"what":     apiv1.ActionWhat,
	"kind":     apiv1.ServiceKind,
	"listener": listenerWords,
}).ParseFS(webFS, "web/page.html"))

// listenerWords names a local endpoint for a person setting up an app.
func listenerWords(name string) string {
	switch name {
	case "smtp":
		return "sending (SMTP)"
	case "imap":
		return "mail (IMAP)"
	case "caldav":
		return "calendars (CalDAV)"
	}
	return name
}

// pageData is what the page shows.
type pageData struct {
	Status    apiv1.Status
	Actions   []apiv1.Action // unfinished
	Outages   []apiv1.Outage // recent
	Conflicts []apiv1.Conflict
}

func (s *Server) page(w http.ResponseWriter, r *http.Request) {
	d, ctx := s.opts.Daemon, r.Context()
	var p pageData
	var err error
	if p.Status, err = d.Status(ctx); err == nil {
		if p.Actions, err = d.Actions(ctx, apiv1.ActionFilter{Open: true, Limit: 200}); err == nil {
			if p.Outages, err = d.Outages(ctx, 10); err == nil {
				p.Conflicts, err = d.Conflicts(ctx, store.ConflictFilter{OpenOnly: true})
			}
		}
	}
	if err != nil {
		slog.Warn("status page: cannot read the store", "err", err)
		http.Error(w, "cannot read the store: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'")
	if err := pageTmpl.Execute(w, p); err != nil {
		slog.Warn("status page", "err", err)
	}
}

func (s *Server) pageRoutes() {
	static, _ := fs.Sub(webFS, "web/static")
	s.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	s.mux.HandleFunc("GET /{$}", s.page)
}
