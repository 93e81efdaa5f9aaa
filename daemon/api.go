package daemon

import (
	"context"
	"errors"
	"net"

	"github.com/holdover/holdover/endpoints/httpapi"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
)

// newAPI builds the handler of listen.http.
func (d *Daemon) newAPI() *httpapi.Server {
	return httpapi.New(httpapi.Options{
		Metrics: d.metrics.reg,
		Ready:   d.ready.Load,
		Token:   d.apiToken,
		MetricsPublic: func() bool {
			return d.Config().Listen.MetricsPublic
		},
		Now:    d.opts.Clock.Now,
		Daemon: d,
	})
}

// LoginURL implements control.Daemon: a URL that opens the status page
// in a browser once (the CLI's `holdover open` and `holdover status`).
func (d *Daemon) LoginURL() (string, error) {
	addr := ""
	if d.http != nil {
		addr = d.http.current()
	}
	if addr == "" || d.api == nil {
		return "", errors.New("the status page is off: listen.http is disabled")
	}
	return d.api.LoginURL(browserAddr(addr)), nil
}

// browserAddr is the address a browser on this computer uses for a
// listener: one bound to every interface is reached over loopback.
func browserAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// The API's view of the daemon (httpapi.Daemon): the same documents and
// decisions as the CLI's, from this process.

// Status is the document of `holdover status --json`, told by the daemon.
func (d *Daemon) Status(ctx context.Context) (Status, error) {
	info := d.Info()
	st, err := collectStatus(ctx, d.Config(), d.db, DaemonStatus{Running: true, PID: info.PID, Info: &info})
	for i, a := range st.Accounts {
		for j, s := range a.Services {
			if p, ok := d.passes.get(a.Name, s.Service); ok {
				at := p.at
				st.Accounts[i].Services[j].LastSync, st.Accounts[i].Services[j].LastPass = &at, p.what
			}
		}
	}
	return st, err
}

// Actions lists outbox actions.
func (d *Daemon) Actions(ctx context.Context, f apiv1.ActionFilter) ([]apiv1.Action, error) {
	return ListActions(ctx, d.db, f)
}

// Outages lists outages, newest first.
func (d *Daemon) Outages(ctx context.Context, limit int) ([]apiv1.Outage, error) {
	return ListOutages(ctx, d.db, limit)
}

// Conflicts lists conflicts, newest first.
func (d *Daemon) Conflicts(ctx context.Context, f store.ConflictFilter) ([]apiv1.Conflict, error) {
	return ListConflicts(ctx, d.db, f)
}

func (d *Daemon) decider() Decider {
	return Decider{DB: d.db, Config: d.Config(), Notify: d.Nudge}
}

// Resolve decides a conflict and returns it as it stands after.
func (d *Daemon) Resolve(ctx context.Context, id int64, take string) (apiv1.Conflict, error) {
	if err := d.decider().Resolve(ctx, id, take); err != nil {
		return apiv1.Conflict{}, err
	}
	c, err := d.db.ConflictByID(ctx, id)
	return ConflictDoc(c), err
}

// Retry sends an action back to the queue.
func (d *Daemon) Retry(ctx context.Context, id int64) error {
	_, err := d.decider().Retry(ctx, id)
	return err
}

// Cancel cancels an action that has not been sent.
func (d *Daemon) Cancel(ctx context.Context, id int64) error {
	_, err := d.decider().Cancel(ctx, id)
	return err
}
