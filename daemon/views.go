package daemon

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/filesync"
	"github.com/holdover/holdover/sync/outbox"
)

// The lists the CLI's --json and the API share: built here once, from the
// store, so they read the same wherever they are asked for.

// ListActions returns outbox actions in creation order, each with what
// its state means for a person (a failed action whose provider is down
// is waiting).
func ListActions(ctx context.Context, db *store.DB, f apiv1.ActionFilter) ([]apiv1.Action, error) {
	rows, err := db.ListOutbox(ctx, store.OutboxFilter{Account: f.Account, State: f.State})
	if err != nil {
		return nil, err
	}
	open, err := db.Conflicts(ctx, store.ConflictFilter{Account: f.Account, OpenOnly: true})
	if err != nil {
		return nil, err
	}
	down, err := downServices(ctx, db)
	if err != nil {
		return nil, err
	}
	waits := waitingFor(rows, open)
	out := []apiv1.Action{}
	for _, r := range rows {
		svc := serviceOf(r.Kind)
		if f.Service != "" && svc != f.Service {
			continue
		}
		if f.Open && (r.State == store.OutboxDone || r.State == store.OutboxCancelled) {
			continue
		}
		a := apiv1.Action{ID: r.ID, Account: r.Account, Service: svc, Kind: r.Kind, TargetKey: r.TargetKey, State: string(r.State),
			Words: apiv1.ActionWords(r.State, down[[2]string{r.Account, svc}]), Attempts: r.Attempts, LastError: r.LastError,
			BaseVersion: r.BaseVersion, PayloadBytes: len(r.Payload), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
			WaitsForConflict: waits[r.ID]}
		if !r.NextAttemptAt.IsZero() {
			t := r.NextAttemptAt
			a.NextAttemptAt = &t
		}
		out = append(out, a)
		if f.Limit > 0 && len(out) == f.Limit {
			break
		}
	}
	return out, nil
}

// downServices are the services whose provider is down now.
func downServices(ctx context.Context, db *store.DB) (map[[2]string]bool, error) {
	health, err := db.HealthRows(ctx)
	if err != nil {
		return nil, err
	}
	down := map[[2]string]bool{}
	for _, h := range health {
		if h.State == store.HealthDown {
			down[[2]string{h.Account, h.Service}] = true
		}
	}
	outages, err := db.Outages(ctx, 0)
	if err != nil {
		return nil, err
	}
	for _, o := range outages {
		if o.Open() {
			down[[2]string{o.Account, o.Service}] = true
		}
	}
	return down, nil
}

// waitingFor maps each unfinished action queued behind an open conflict
// on its key (a later action on the same target) to that conflict.
func waitingFor(rows []store.OutboxRow, open []store.Conflict) map[int64]int64 {
	out := map[int64]int64{}
	for _, r := range rows {
		if r.State != store.OutboxPending && r.State != store.OutboxFailed {
			continue
		}
		for _, c := range open {
			if c.OutboxID != 0 && c.OutboxID < r.ID && c.Account == r.Account && c.TargetKey == r.TargetKey {
				out[r.ID] = c.ID
				break
			}
		}
	}
	return out
}

// ListOutages returns outages newest first (at most limit; 0: all).
func ListOutages(ctx context.Context, db *store.DB, limit int) ([]apiv1.Outage, error) {
	os, err := db.Outages(ctx, limit)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]apiv1.Outage, 0, len(os))
	for _, o := range os {
		doc, err := outageDoc(ctx, db, o, now)
		if err != nil {
			return nil, err
		}
		out = append(out, doc)
	}
	return out, nil
}

// outageDoc describes a stored outage as of now. An open outage's stored
// counts are written when it ends; until then it shows the actions queued
// in it so far.
func outageDoc(ctx context.Context, db *store.DB, o store.Outage, now time.Time) (apiv1.Outage, error) {
	if o.Open() {
		var err error
		if o.Queued, o.Replayed, err = db.OutageQueueSoFar(ctx, o.Account, outbox.ServiceKinds[o.Service], o.StartedAt); err != nil {
			return apiv1.Outage{}, err
		}
	}
	return apiv1.NewOutage(o, now), nil
}

// ListConflicts returns conflicts newest first (open ones only unless
// all).
func ListConflicts(ctx context.Context, db *store.DB, f store.ConflictFilter) ([]apiv1.Conflict, error) {
	cs, err := db.Conflicts(ctx, f)
	if err != nil {
		return nil, err
	}
	out := make([]apiv1.Conflict, 0, len(cs))
	for _, c := range cs {
		out = append(out, ConflictDoc(c))
	}
	return out, nil
}

// ConflictDoc describes a stored conflict.
func ConflictDoc(c store.Conflict) apiv1.Conflict {
	j := apiv1.Conflict{ID: c.ID, Account: c.Account, Kind: c.Kind, Target: c.TargetKey, OutboxID: c.OutboxID,
		Policy: c.Policy, Resolution: c.Resolution, CreatedAt: c.CreatedAt,
		Summary: conflictSummary(c), LocalSummary: sideSummary(c.Kind, c.LocalMeta, "yours"), RemoteSummary: sideSummary(c.Kind, c.RemoteMeta, "the server's")}
	if !c.Open() {
		j.ResolvedAt = &c.ResolvedAt
	} else {
		j.Takes = []string{calsync.TakeLocal, calsync.TakeRemote}
		if c.Kind == "file" {
			j.Takes = append(j.Takes, filesync.TakeBoth)
		}
	}
	if json.Valid([]byte(c.LocalMeta)) {
		j.Local = json.RawMessage(c.LocalMeta)
	}
	if json.Valid([]byte(c.RemoteMeta)) {
		j.Remote = json.RawMessage(c.RemoteMeta)
	}
	return j
}

// conflictSummary says what a conflict is about in one line.
func conflictSummary(c store.Conflict) string {
	var m map[string]any
	json.Unmarshal([]byte(c.LocalMeta), &m)
	switch c.Kind {
	case "calendar":
		if s, _ := m["summary"].(string); s != "" {
			return fmt.Sprintf("%q", s)
		}
		if d, _ := m["deleted"].(bool); d {
			return "deleted here, changed on the server"
		}
	case "file":
		if p, _ := m["path"].(string); p != "" {
			return "changed on both sides; your version is " + p
		}
	case "mail":
		if id, _ := m["message_id"].(string); id != "" {
			return "send of <" + id + "> may have gone already"
		}
	}
	return c.TargetKey
}

// sideSummary describes one side of a conflict for a person, from its
// stored metadata (never the content itself).
func sideSummary(kind, meta, whose string) string {
	var m map[string]any
	if json.Unmarshal([]byte(meta), &m) != nil {
		return whose + " version"
	}
	if d, _ := m["deleted"].(bool); d {
		return whose + ": deleted"
	}
	switch kind {
	case "calendar":
		var cm calsync.ConflictMeta
		json.Unmarshal([]byte(meta), &cm)
		if !cm.Start.IsZero() {
			return fmt.Sprintf("%s: %q, %s – %s", whose, cm.Summary, cm.Start.Local().Format("Mon Jan 2 15:04"), cm.End.Local().Format("15:04"))
		}
		return fmt.Sprintf("%s: %q", whose, cm.Summary)
	case "file":
		if p, _ := m["path"].(string); p != "" {
			return whose + ": " + p
		}
	case "mail":
		if id, _ := m["message_id"].(string); id != "" {
			return whose + ": <" + id + ">"
		}
	}
	return whose + " version"
}
