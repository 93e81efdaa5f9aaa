package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
)

// Daemon is what the API and the page need from the running daemon: the
// documents and decisions the CLI uses too (one implementation of each).
type Daemon interface {
	Status(ctx context.Context) (apiv1.Status, error)
	Actions(ctx context.Context, f apiv1.ActionFilter) ([]apiv1.Action, error)
	Outages(ctx context.Context, limit int) ([]apiv1.Outage, error)
	Conflicts(ctx context.Context, f store.ConflictFilter) ([]apiv1.Conflict, error)
	// Resolve decides a conflict and returns it as it stands after.
	Resolve(ctx context.Context, id int64, take string) (apiv1.Conflict, error)
	Retry(ctx context.Context, id int64) error
	Cancel(ctx context.Context, id int64) error
	// SyncNow is the control socket's: a full pass on the daemon's loops.
	SyncNow(ctx context.Context, account string, o control.SyncOptions) (any, error)
}

// routes registers the JSON API and the page (when a daemon backs them).
func (s *Server) routes() {
	d := s.opts.Daemon
	if d == nil {
		return
	}
	s.pageRoutes()
	s.mux.HandleFunc("GET /api/v1/status", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Status(r.Context())
		answer(w, st, err)
	})
	s.mux.HandleFunc("GET /api/v1/accounts", func(w http.ResponseWriter, r *http.Request) {
		st, err := d.Status(r.Context())
		answer(w, st.Accounts, err)
	})
	s.mux.HandleFunc("GET /api/v1/outbox", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := apiv1.ActionFilter{Account: q.Get("account"), Service: q.Get("service"), State: store.OutboxState(q.Get("state")), Open: q.Get("open") == "1" || q.Get("open") == "true"}
		if f.State != "" && !f.State.Valid() {
			writeError(w, http.StatusBadRequest, "state: want one of pending, inflight, done, failed, conflict, dead, cancelled")
			return
		}
		var ok bool
		if f.Limit, ok = limit(w, q.Get("limit"), 0); !ok {
			return
		}
		as, err := d.Actions(r.Context(), f)
		answer(w, as, err)
	})
	s.mux.HandleFunc("GET /api/v1/outages", func(w http.ResponseWriter, r *http.Request) {
		n, ok := limit(w, r.URL.Query().Get("limit"), 50)
		if !ok {
			return
		}
		os, err := d.Outages(r.Context(), n)
		answer(w, os, err)
	})
	s.mux.HandleFunc("GET /api/v1/conflicts", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		cs, err := d.Conflicts(r.Context(), store.ConflictFilter{Account: q.Get("account"), OpenOnly: q.Get("all") != "1" && q.Get("all") != "true"})
		answer(w, cs, err)
	})
	s.mux.HandleFunc("POST /api/v1/conflicts/{id}/resolve", func(w http.ResponseWriter, r *http.Request) {
		id, ok := pathID(w, r)
		if !ok {
			return
		}
		take := r.URL.Query().Get("take")
		if take == "" {
			var body struct {
				Take string `json:"take"`
			}
			if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&body); err != nil {
				writeError(w, http.StatusBadRequest, `send {"take": "local"|"remote"|"both"} or ?take=`)
				return
			}
			take = body.Take
		}
		c, err := d.Resolve(r.Context(), id, take)
		answer(w, c, err)
	})
	s.mux.HandleFunc("POST /api/v1/outbox/{id}/retry", func(w http.ResponseWriter, r *http.Request) {
		if id, ok := pathID(w, r); ok {
			answer(w, done{ID: id, Done: "queued again"}, d.Retry(r.Context(), id))
		}
	})
	s.mux.HandleFunc("POST /api/v1/outbox/{id}/cancel", func(w http.ResponseWriter, r *http.Request) {
		if id, ok := pathID(w, r); ok {
			answer(w, done{ID: id, Done: "cancelled"}, d.Cancel(r.Context(), id))
		}
	})
	s.mux.HandleFunc("POST /api/v1/sync-now", func(w http.ResponseWriter, r *http.Request) {
		res, err := d.SyncNow(r.Context(), r.URL.Query().Get("account"), control.SyncOptions{})
		if err != nil {
			writeError(w, http.StatusUnprocessableEntity, err.Error())
			return
		}
		writeJSON(w, http.StatusOK, res)
	})
}

// done answers a decision on an action.
type done struct {
	ID   int64  `json:"id"`
	Done string `json:"done"`
}

// answer writes v, or err with the status its kind calls for.
func answer(w http.ResponseWriter, v any, err error) {
	switch {
	case err == nil:
		writeJSON(w, http.StatusOK, v)
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, store.ErrState):
		writeError(w, http.StatusConflict, err.Error())
	case errors.Is(err, apiv1.ErrInvalid):
		writeError(w, http.StatusBadRequest, err.Error())
	default:
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}

func pathID(w http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		writeError(w, http.StatusBadRequest, "id: want a positive number")
		return 0, false
	}
	return id, true
}

func limit(w http.ResponseWriter, s string, def int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, "limit: want a number, 0 for all")
		return 0, false
	}
	return n, true
}
