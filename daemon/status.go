package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/store"
)

// Status is what `holdover status` shows. It is built from the store, so it
// works with the daemon stopped; the daemon adds its PID and reload state
// when it runs.
type Status struct {
	Daemon   DaemonStatus    `json:"daemon"`
	Accounts []AccountStatus `json:"accounts"`
}

// DaemonStatus says whether a daemon owns the data directory.
type DaemonStatus struct {
	Running bool                `json:"running"`
	PID     int                 `json:"pid,omitempty"`
	Info    *control.DaemonInfo `json:"info,omitempty"` // nil when its socket does not answer
	Error   string              `json:"error,omitempty"`
}

// AccountStatus is one account's services and queue.
type AccountStatus struct {
	Name string `json:"name"`
	// Configured is false for an account removed from the configuration
	// whose data is still stored.
	Configured    bool                      `json:"configured"`
	Services      []ServiceStatus           `json:"services"`
	Outbox        map[store.OutboxState]int `json:"outbox"`
	OpenConflicts int                       `json:"open_conflicts"`
}

// ServiceStatus is one provider service's health.
type ServiceStatus struct {
	Service   string            `json:"service"`
	State     store.HealthState `json:"state"`
	Since     *time.Time        `json:"since,omitempty"`
	LastError string            `json:"last_error,omitempty"`
	Outage    *store.Outage     `json:"outage,omitempty"` // the open one
}

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
	var st Status
	if cfg != nil {
		st.Daemon = daemonStatus(ctx, cfg)
	}
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
	for _, name := range names {
		as := AccountStatus{Name: name, Outbox: counts[name], OpenConflicts: conflicts[name]}
		if cfg != nil {
			_, as.Configured = cfg.Account(name)
		}
		if as.Outbox == nil {
			as.Outbox = map[store.OutboxState]int{}
		}
		for _, svc := range services[name] {
			ss := ServiceStatus{Service: svc, State: store.HealthUnknown}
			if h, ok := byKey[[2]string{name, svc}]; ok {
				since := h.Since
				ss.State, ss.Since, ss.LastError = h.State, &since, h.LastError
			}
			if o, ok := open[[2]string{name, svc}]; ok {
				ss.Outage = &o
			}
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

func appendUnique(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}
