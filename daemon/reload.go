package daemon

import (
	"context"
	"net"
	"os"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
)

// Info implements control.Daemon.
func (d *Daemon) Info() control.DaemonInfo {
	d.mu.Lock()
	defer d.mu.Unlock()
	return control.DaemonInfo{
		PID:         os.Getpid(),
		Version:     d.opts.Version,
		StartedAt:   d.started,
		ConfigPath:  d.opts.ConfigPath,
		ConfigFiles: d.cfg.Files(),
		DataDir:     d.cfg.DataDir,
		Reload:      d.reload,
		Connecting:  d.connects.list(),
		Listeners:   d.listeners(),
	}
}

// listeners are the mail endpoints serving now, for status.
func (d *Daemon) listeners() []control.Listener {
	var out []control.Listener
	for _, l := range []control.Listener{{Name: "smtp", Addr: d.smtp.address()}, {Name: "imap", Addr: d.imap.address()}, {Name: "caldav", Addr: d.caldav.address()}} {
		if l.Addr != "" {
			out = append(out, l)
		}
	}
	return out
}

// Reload loads and validates the configuration file and applies it whole.
// When it fails, the running configuration stays and the reason is kept
// for status and metrics. It implements control.Daemon.
func (d *Daemon) Reload(ctx context.Context) (control.ReloadState, error) {
	next, err := config.Load(d.opts.ConfigPath)
	if err == nil {
		err = d.apply(ctx, next)
	}
	st := d.recordReload(err)
	if err != nil {
		d.log.Error("configuration rejected; keeping the running one", "config", d.opts.ConfigPath, "err", err)
		return st, err
	}
	d.log.Info("configuration reloaded", "config", d.opts.ConfigPath, "generation", st.Generation, "accounts", len(next.Accounts))
	d.logWarnings(next)
	return st, nil
}

// logWarnings reports what the configuration ignored (a managed key
// overridden, say) or lacks (an account's sender address); the
// configuration itself is in force.
func (d *Daemon) logWarnings(c *config.Config) {
	for _, w := range c.Warnings() {
		d.log.Warn("configuration warning", "where", w.Error())
	}
}

// apply switches to next, whole or not at all: listeners move, accounts
// start, stop or reconnect, the log level changes. data_dir cannot change
// under a running daemon (the reload is rejected); the log format takes
// effect at the next restart.
func (d *Daemon) apply(ctx context.Context, next *config.Config) error {
	cur := d.Config()
	if next.DataDir != cur.DataDir {
		return errRestartNeeded("data_dir")
	}
	// Bind moved listeners first: a bind failure rejects the reload while
	// nothing has changed yet.
	type move struct {
		ep   *endpoint
		addr string
		ln   net.Listener
	}
	var moves []move
	closeAll := func() {
		for _, m := range moves {
			if m.ln != nil {
				m.ln.Close()
			}
		}
	}
	if d.ctl != nil {
		for _, m := range []move{{ep: d.ctl, addr: next.ControlSocket()}, {ep: d.http, addr: next.Listen.HTTP}} {
			if m.addr == m.ep.current() {
				continue
			}
			ln, err := m.ep.listen(m.addr)
			if err != nil {
				closeAll()
				return err
			}
			m.ln = ln
			moves = append(moves, m)
		}
	}
	var switchSMTP, switchIMAP, switchCalDAV *endpointSwitch
	commitTLS := func() {}
	if d.ctl != nil {
		var err error
		if commitTLS, err = d.stageLocalTLS(next); err != nil {
			closeAll()
			return err
		}
		if switchSMTP, err = d.prepareSMTP(next); err != nil {
			closeAll()
			return err
		}
		if switchSMTP != nil {
			prev := closeAll
			closeAll = func() { prev(); switchSMTP.abort() }
		}
		if switchIMAP, err = d.prepareIMAP(next); err != nil {
			closeAll()
			return err
		}
		if switchIMAP != nil {
			prev := closeAll
			closeAll = func() { prev(); switchIMAP.abort() }
		}
		if switchCalDAV, err = d.prepareCalDAV(next); err != nil {
			closeAll()
			return err
		}
		if switchCalDAV != nil {
			prev := closeAll
			closeAll = func() { prev(); switchCalDAV.abort() }
		}
	}
	if err := d.db.EnsureAccounts(ctx, accountNames(next)); err != nil {
		closeAll()
		return err
	}
	if err := setLevel(d.level, next.Log.Level); err != nil {
		closeAll()
		return err
	}
	for _, k := range restartKeys(cur, next) {
		d.log.Warn("setting changed; it takes effect at the next restart", "key", k)
	}
	if d.runCtx != nil {
		if err := d.applyAccounts(d.runCtx, next); err != nil {
			closeAll()
			return err
		}
	}
	d.mu.Lock()
	d.cfg = next
	d.mu.Unlock()
	for _, m := range moves {
		m.ep.swap(m.addr, m.ln)
	}
	commitTLS()
	if switchSMTP != nil {
		switchSMTP.commit()
	}
	if switchIMAP != nil {
		switchIMAP.commit()
	}
	if switchCalDAV != nil {
		switchCalDAV.commit()
	}
	return nil
}

type errRestartNeeded string

func (e errRestartNeeded) Error() string {
	return string(e) + " cannot change while the daemon runs; restart holdover to use the new value"
}

func restartKeys(cur, next *config.Config) []string {
	var keys []string
	if cur.Log.Format != next.Log.Format {
		keys = append(keys, "log.format")
	}
	return keys
}

func (d *Daemon) recordReload(err error) control.ReloadState {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.reload.At = d.opts.Clock.Now()
	d.reload.OK = err == nil
	d.reload.Error = ""
	if err != nil {
		d.reload.Error = err.Error()
		d.metrics.reloadOK.Set(0)
		d.metrics.reloadsTotal.WithLabelValues("rejected").Inc()
		return d.reload
	}
	d.reload.Generation++
	d.metrics.reloadOK.Set(1)
	d.metrics.reloadTimestamp.Set(float64(d.reload.At.Unix()))
	d.metrics.reloadsTotal.WithLabelValues("applied").Inc()
	d.metrics.configGeneration.Set(float64(d.reload.Generation))
	return d.reload
}
