// Package daemon is holdover's composition root: it loads the
// configuration, opens the store, builds connectors, engines and local
// endpoints, runs them under one errgroup, reloads the configuration, and
// shuts everything down in order. It is the only package that wires
// connectors to engines.
//
// Invariants:
//   - One daemon per data directory: an exclusive lock file is held for the
//     whole life of the process (the kernel releases it on any exit).
//   - A configuration is applied whole or not at all. A reload that fails to
//     load or validate keeps the running configuration, is logged with its
//     reason, and is visible in `holdover status` and in the metric
//     holdover_config_last_reload_successful.
//   - Shutdown is ordered (local endpoints stop accepting first, then the
//     engines, then the store closes and the lock is released) and bounded
//     by Options.ShutdownTimeout. Every acknowledged change is already
//     committed, so a timed-out shutdown loses nothing.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/endpoints/httpapi"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/internal/clock"
	"github.com/holdover/holdover/store"
)

// ErrConfig wraps a configuration that cannot be loaded at start-up. The
// CLI exits with ExitConfig for it, so a service manager can tell "fix the
// file" from a crash and stop restarting.
var ErrConfig = errors.New("invalid configuration")

// ExitConfig is sysexits' EX_CONFIG; the systemd unit lists it in
// RestartPreventExitStatus.
const ExitConfig = 78

// Options configure Run.
type Options struct {
	ConfigPath string
	Version    string
	// LogOutput receives the logs; nil means os.Stderr.
	LogOutput io.Writer
	// ReloadDebounce is how long the configuration watcher waits for a
	// burst of file changes to settle; zero means config.DefaultDebounce.
	ReloadDebounce time.Duration
	// Retry spaces out retries of failed outbox actions and sync passes;
	// zero means backoff.Outbox (1 s growing to 5 min). The demo shortens it.
	Retry backoff.Policy
	// ShutdownTimeout bounds a graceful shutdown; zero means 15 s.
	ShutdownTimeout time.Duration
	Clock           clock.Clock

	// RetentionEvery is how often finished outbox actions are pruned
	// after start-up; zero means hourly. Tests shorten it.
	RetentionEvery time.Duration
}

// Daemon is a running holdover.
type Daemon struct {
	opts    Options
	log     *slog.Logger
	level   *slog.LevelVar
	db      *store.DB
	lock    *Lock
	metrics *metrics
	passes  *passes
	started time.Time
	ready   atomic.Bool

	// connects shows the connection attempts under way in status.
	connects *connectWatch

	mu     sync.Mutex // guards cfg and reload
	cfg    *config.Config
	reload control.ReloadState

	ctl, http *endpoint // the control socket and listen.http, movable by a reload
	api       *httpapi.Server
	apiToken  string
	smtp      *localEndpoint
	imap      *localEndpoint
	caldav    *localEndpoint
	localCert localCert // listen.tls, for the local endpoints' STARTTLS

	// runCtx is the context account loops run under (set by serve).
	runCtx  context.Context
	runners runners
	runSync config.Sync // the sync settings the loops were started with
}

// Run starts the daemon and blocks until ctx is cancelled, SIGINT or
// SIGTERM arrives, or a component fails. Startup errors (bad config,
// unusable data directory, locked, bad database) are returned before any
// listener opens.
func Run(ctx context.Context, opts Options) error {
	return runWith(ctx, opts, nil)
}

// runWith is Run with a hook called once the daemon serves (for tests).
func runWith(ctx context.Context, opts Options, onReady func(*Daemon)) error {
	if opts.LogOutput == nil {
		opts.LogOutput = os.Stderr
	}
	if opts.ShutdownTimeout == 0 {
		opts.ShutdownTimeout = 15 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Retry.Base == 0 {
		opts.Retry = backoff.Outbox
	}
	cfg, err := config.Load(opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	d, err := open(ctx, cfg, opts)
	if err != nil {
		return err
	}
	return d.serve(ctx, onReady)
}

// open does everything that can fail before the daemon listens.
func open(ctx context.Context, cfg *config.Config, opts Options) (*Daemon, error) {
	log, level, err := newLogger(cfg.Log, opts.LogOutput)
	if err != nil {
		return nil, err
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, err
	}
	lock, err := AcquireLock(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	db, err := store.Open(ctx, cfg.DBPath(), store.WithClock(opts.Clock))
	if err != nil {
		lock.Release()
		return nil, err
	}
	if err := db.EnsureAccounts(ctx, accountNames(cfg)); err != nil {
		db.Close()
		lock.Release()
		return nil, err
	}
	token, replaced, err := httpapi.LoadOrCreateToken(cfg.DataDir)
	if err != nil {
		db.Close()
		lock.Release()
		return nil, err
	}
	if replaced {
		log.Warn("the API token file was readable by others or malformed: a new one replaces it", "file", httpapi.TokenFile)
	}
	d := &Daemon{
		opts: opts, log: log, level: level, db: db, lock: lock,
		metrics:  newMetrics(opts.Version),
		started:  opts.Clock.Now(),
		cfg:      cfg,
		apiToken: token,
		connects: newConnectWatch(),
		smtp:     newSubmission(),
		imap:     newIMAPEndpoint(),
		caldav:   newCalDAVEndpoint(),
	}
	d.passes = newPasses(d.metrics.reg)
	d.metrics.reg.MustRegister(newStoreCollector(db, log))
	d.recordReload(nil)
	d.logWarnings(cfg)
	return d, nil
}

// prepareDataDir creates the data directory (private to this user) and
// proves it is a writable directory before anything else touches it.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("data_dir %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("data_dir %s: not a directory", dir)
	}
	probe, err := os.CreateTemp(dir, ".write-test-*")
	if err != nil {
		return fmt.Errorf("data_dir %s: not writable: %w", dir, err)
	}
	probe.Close()
	if err := os.Remove(probe.Name()); err != nil {
		return err
	}
	// The spool holds messages between the network and the store, for
	// the SMTP endpoint and the outbox as well as the mail mirror: an
	// account with SMTP and no IMAP needs it too.
	if err := os.MkdirAll(filepath.Join(dir, "spool"), 0o700); err != nil {
		return fmt.Errorf("data_dir %s: spool: %w", dir, err)
	}
	return nil
}

func accountNames(cfg *config.Config) []string {
	names := make([]string, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		names = append(names, a.Name)
	}
	return names
}

// Config returns the configuration in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// serve runs the components until shutdown, then stops them in order.
func (d *Daemon) serve(parent context.Context, onReady func(*Daemon)) (err error) {
	defer func() {
		err = errors.Join(err, d.db.Close(), d.lock.Release())
	}()
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg := d.Config()

	failed := make(chan error, 2)
	d.ctl = &endpoint{name: "control", handler: control.NewHandler(d), log: d.log, failed: failed}
	d.api = d.newAPI()
	d.http = &endpoint{name: "http", handler: d.api, log: d.log, failed: failed}
	ctlLn, err := d.ctl.listen(cfg.ControlSocket())
	if err != nil {
		return err
	}
	httpLn, err := d.http.listen(cfg.Listen.HTTP)
	if err != nil {
		ctlLn.Close()
		return err
	}
	commitTLS, err := d.stageLocalTLS(cfg)
	if err != nil {
		ctlLn.Close()
		if httpLn != nil {
			httpLn.Close()
		}
		return err
	}
	switchSMTP, err := d.prepareSMTP(cfg)
	if err != nil {
		ctlLn.Close()
		if httpLn != nil {
			httpLn.Close()
		}
		return err
	}
	switchIMAP, err := d.prepareIMAP(cfg)
	if err != nil {
		ctlLn.Close()
		if httpLn != nil {
			httpLn.Close()
		}
		if switchSMTP != nil {
			switchSMTP.abort()
		}
		return err
	}
	switchCalDAV, err := d.prepareCalDAV(cfg)
	if err != nil {
		ctlLn.Close()
		if httpLn != nil {
			httpLn.Close()
		}
		for _, sw := range []*endpointSwitch{switchSMTP, switchIMAP} {
			if sw != nil {
				sw.abort()
			}
		}
		return err
	}
	d.ctl.swap(cfg.ControlSocket(), ctlLn)
	d.http.swap(cfg.Listen.HTTP, httpLn)
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
	// Endpoints stop first on shutdown, so no local change is accepted
	// once the engines are winding down.
	epCtx, epFailed := context.WithCancelCause(ctx)
	defer epFailed(nil)
	go func() {
		select {
		case err := <-failed:
			epFailed(err)
		case <-epCtx.Done():
		}
	}()
	bgGroup, bgCtx := errgroup.WithContext(epCtx)
	bgGroup.Go(func() error { return d.watchSignals(bgCtx) })
	bgGroup.Go(func() error { return d.runRetention(bgCtx) })
	if w, err := config.NewWatcher(cfg, d.opts.ReloadDebounce, func() {
		d.log.Info("configuration files changed: reloading")
		d.Reload(bgCtx)
	}); err != nil {
		d.log.Warn("cannot watch the configuration files; reload with SIGHUP", "err", err)
	} else {
		bgGroup.Go(func() error {
			if err := w.Run(bgCtx); err != nil {
				d.log.Warn("configuration watch stopped; reload with SIGHUP", "err", err)
			}
			return nil
		})
	}
	// Account loops get their own context: they stop after the endpoints,
	// so nothing local is accepted while an engine winds down.
	runCtx, stopRunners := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRunners()
	d.runCtx = runCtx
	if err := d.applyAccounts(runCtx, cfg); err != nil {
		return err
	}

	d.ready.Store(true)
	d.log.Info("holdover started", "pid", os.Getpid(), "version", d.opts.Version,
		"data_dir", cfg.DataDir, "control", cfg.ControlSocket(), "http", cfg.Listen.HTTP, "smtp", d.smtp.address(), "imap", d.imap.address(), "caldav", d.caldav.address(), "accounts", len(cfg.Accounts))
	if onReady != nil {
		onReady(d)
	}

	<-epCtx.Done()
	d.ready.Store(false)
	d.log.Info("holdover stopping")
	done := make(chan error, 1)
	go func() {
		d.smtp.stop()
		d.imap.stop()
		d.caldav.stop()
		d.ctl.stop()
		d.http.stop()
		err := bgGroup.Wait()
		stopRunners()
		d.stopAccounts()
		if cause := context.Cause(epCtx); cause != nil && !errors.Is(cause, context.Canceled) {
			err = errors.Join(cause, err)
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
		d.log.Info("holdover stopped")
		return nil
	case <-time.After(d.opts.ShutdownTimeout):
		return fmt.Errorf("shutdown did not finish within %s; exiting anyway (every acknowledged change is already on disk)", d.opts.ShutdownTimeout)
	}
}

// watchSignals turns SIGHUP into a reload until ctx ends.
func (d *Daemon) watchSignals(ctx context.Context) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			d.log.Info("SIGHUP: reloading configuration")
			d.Reload(ctx)
		}
	}
}
