package daemon

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// The status document lives with the API (GET /api/v1/status answers
// it), so the CLI's --json and the API are one shape.
type (
	Status        = apiv1.Status
	DaemonStatus  = apiv1.DaemonStatus
	AccountStatus = apiv1.AccountStatus
	ServiceStatus = apiv1.ServiceStatus
)

// ConfiguredServices lists the services an account uses, in fixed order.
func ConfiguredServices(a config.Account) []string {
	var s []string
	if a.Mail != nil && a.Mail.IMAP != nil {
		s = append(s, "imap")
	}
	if a.Mail != nil && a.Mail.SMTP != nil {
		s = append(s, "smtp")
	}
	if a.Calendar != nil && a.Calendar.CalDAV != nil {
		s = append(s, "caldav")
	}
	if a.Files != nil && a.Files.WebDAV != nil {
		s = append(s, "webdav")
	}
	return s
}

// CollectStatus reads the store and asks the daemon, if one runs, about
// itself. cfg may be nil when the configuration cannot be loaded; the
// stored accounts are shown then.
func CollectStatus(ctx context.Context, cfg *config.Config, db *store.DB) (Status, error) {
	var ds DaemonStatus
	if cfg != nil {
		ds = daemonStatus(ctx, cfg)
	}
	return collectStatus(ctx, cfg, db, ds)
}

// collectStatus reads the store; ds is what is known of the daemon.
func collectStatus(ctx context.Context, cfg *config.Config, db *store.DB, ds DaemonStatus) (Status, error) {
	st := Status{Daemon: ds, Accounts: []AccountStatus{}}
	health, err := db.HealthRows(ctx)
	if err != nil {
		return st, err
	}
	counts, err := db.OutboxCounts(ctx)
	if err != nil {
		return st, err
	}
	conflicts, err := db.OpenConflicts(ctx)
	if err != nil {
		return st, err
	}
	outages, err := db.Outages(ctx, 0)
	if err != nil {
		return st, err
	}
	stored, err := db.Accounts(ctx)
	if err != nil {
		return st, err
	}

	services := map[string][]string{}
	var names []string
	if cfg != nil {
		for _, a := range cfg.Accounts {
			names = append(names, a.Name)
			services[a.Name] = ConfiguredServices(a)
		}
	}
	for _, a := range stored {
		if _, ok := services[a.Name]; !ok {
			names = append(names, a.Name)
		}
	}
	byKey := map[[2]string]store.Health{}
	for _, h := range health {
		byKey[[2]string{h.Account, h.Service}] = h
		if _, ok := services[h.Account]; !ok || cfg == nil {
			services[h.Account] = appendUnique(services[h.Account], h.Service)
		}
	}
	open := map[[2]string]store.Outage{}
	for _, o := range outages {
		if o.Open() {
			open[[2]string{o.Account, o.Service}] = o
		}
	}
	queues, oldest, err := queueWords(ctx, db, func(account, service string) bool {
		_, open := open[[2]string{account, service}]
		return open || byKey[[2]string{account, service}].State == store.HealthDown
	})
	if err != nil {
		return st, err
	}
	connecting := map[[2]string]time.Time{}
	if ds.Info != nil {
		for _, c := range ds.Info.Connecting {
			connecting[[2]string{c.Account, c.Service}] = c.Since
		}
	}
	now := time.Now()
	for _, name := range names {
		as := AccountStatus{Name: name, Outbox: counts[name], OpenConflicts: conflicts[name],
			Queue: apiv1.NewQueue(queues[name]), OldestWaiting: oldest[name]}
		if cfg != nil {
			var a *config.Account
			a, as.Configured = cfg.Account(name)
			if as.Configured && a.SignIn() != nil {
				as.SignIn = signInStatus(cfg.DataDir, name)
			}
		}
		if as.Outbox == nil {
			as.Outbox = map[store.OutboxState]int{}
		}
		for _, svc := range services[name] {
			ss := ServiceStatus{Service: svc, Kind: apiv1.ServiceKind(svc), State: store.HealthUnknown}
			if h, ok := byKey[[2]string{name, svc}]; ok {
				since := h.Since
				ss.State, ss.Since, ss.LastError = h.State, &since, h.LastError
				if h.State == store.HealthNeedsLogin {
					ss.NeedsLogin, ss.Action = true, "holdover account login "+name
				}
			}
			if o, ok := open[[2]string{name, svc}]; ok {
				out, err := outageDoc(ctx, db, o, now)
				if err != nil {
					return st, err
				}
				ss.Outage = &out
			}
			if t, ok := connecting[[2]string{name, svc}]; ok {
				ss.ConnectingSince = &t
			}
			ss.Words = apiv1.ServiceWords(ss, now)
			as.Services = append(as.Services, ss)
		}
		st.Accounts = append(st.Accounts, as)
	}
	return st, nil
}

func daemonStatus(ctx context.Context, cfg *config.Config) DaemonStatus {
	var ds DaemonStatus
	pid, err := LockHolder(cfg.DataDir)
	if err != nil {
		ds.Error = err.Error()
		return ds
	}
	ds.Running, ds.PID = pid != 0, pid
	if !ds.Running {
		return ds
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	info, err := control.NewClient(cfg.ControlSocket()).Info(ctx)
	if err != nil {
		if errors.Is(err, control.ErrNoDaemon) {
			ds.Error = "the daemon holds the lock but its control socket does not answer"
		} else {
			ds.Error = err.Error()
		}
		return ds
	}
	ds.Info = &info
	return ds
}

// queueWords counts each account's unfinished actions by what they mean
// for a person, and finds when the oldest was queued. down reports
// whether a service is down now (its failed actions are then waiting, not
// retrying).
func queueWords(ctx context.Context, db *store.DB, down func(account, service string) bool) (map[string]map[string]int, map[string]*time.Time, error) {
	counts := map[string]map[string]int{}
	oldest := map[string]*time.Time{}
	for _, state := range []store.OutboxState{store.OutboxPending, store.OutboxInflight, store.OutboxFailed, store.OutboxConflict, store.OutboxDead} {
		rows, err := db.ListOutbox(ctx, store.OutboxFilter{State: state})
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rows {
			if counts[r.Account] == nil {
				counts[r.Account] = map[string]int{}
			}
			counts[r.Account][apiv1.ActionWords(r.State, down(r.Account, serviceOf(r.Kind)))]++
			if o := oldest[r.Account]; o == nil || r.CreatedAt.Before(*o) {
				t := r.CreatedAt
				oldest[r.Account] = &t
			}
		}
	}
	return counts, oldest, nil
}

// serviceOf is the provider service that replays an action kind.
func serviceOf(kind string) string {
	for svc, kinds := range outbox.ServiceKinds {
		if slices.Contains(kinds, kind) {
			return svc
		}
	}
	return ""
}

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
