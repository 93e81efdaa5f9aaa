package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"golang.org/x/sync/errgroup"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/filesync"
	"github.com/holdover/holdover/sync/mailsync"
)

// SyncOnceOptions configure SyncOnce.
type SyncOnceOptions struct {
	Account string // "" for every account
	Only    string // "", "mail", "calendar" or "files"
	// Force lets the files sync pass its mass-delete guard.
	Force         bool
	Progress      func(mailsync.Progress)
	FilesProgress func(filesync.Progress)
	Log           *slog.Logger
}

// SyncOnce runs one full pass without a daemon. When a daemon owns the
// data directory it asks that daemon to do it instead (two processes never
// sync one account at once), and reports Delegated.
func SyncOnce(ctx context.Context, cfg *config.Config, opts SyncOnceOptions) (results []SyncResult, delegated bool, err error) {
	if opts.Only != "" && opts.Only != "mail" && opts.Only != "calendar" && opts.Only != "files" {
		return nil, false, fmt.Errorf("--only %q: want mail, calendar or files", opts.Only)
	}
	wants := func(service string) bool { return opts.Only == "" || opts.Only == service }
	delegated, err = onMailEngines(ctx, cfg, engineRun{
		account: opts.Account, log: opts.Log, progress: opts.Progress, skipMail: !wants("mail"),
		delegate: func(c *control.Client) error {
			raw, err := c.SyncNow(ctx, opts.Account, control.SyncOptions{Force: opts.Force})
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, &results)
		},
		each: func(a config.Account, db *store.DB, eng *mailsync.Engine, log *slog.Logger) error {
			res := SyncResult{Account: a.Name}
			var errs []error
			if eng != nil {
				var err error
				res.Mail, err = eng.SyncOnce(ctx)
				errs = append(errs, recordHealth(ctx, db, a.Name, "imap", err))
			}
			if hasCalendar(a) && wants("calendar") {
				st, err := syncCalendarOnce(ctx, a, db, log)
				res.Calendar = &st
				errs = append(errs, recordHealth(ctx, db, a.Name, "caldav", err))
			}
			if hasFiles(a) && wants("files") {
				st, err := syncFilesOnce(ctx, a, db, log, opts)
				res.Files = &st
				if !errors.Is(err, filesync.ErrGuard) {
					err = recordHealth(ctx, db, a.Name, "webdav", err)
				}
				errs = append(errs, err)
			}
			err := errors.Join(errs...)
			if err != nil {
				res.Error = err.Error()
			}
			results = append(results, res)
			return err
		},
	})
	return results, delegated, err
}

// syncCalendarOnce runs one calendar pass of an account in this process.
func syncCalendarOnce(ctx context.Context, a config.Account, db *store.DB, log *slog.Logger) (calsync.Stats, error) {
	eng, err := calEngine(a, db, log)
	if err != nil {
		return calsync.Stats{}, err
	}
	return eng.SyncOnce(ctx)
}

// syncFilesOnce runs one files pass of an account in this process, then
// replays the files actions it can (without a daemon nobody else would).
func syncFilesOnce(ctx context.Context, a config.Account, db *store.DB, log *slog.Logger, opts SyncOnceOptions) (filesync.Stats, error) {
	eng, err := fileEngine(a, db, log, opts.FilesProgress)
	if err != nil {
		return filesync.Stats{}, err
	}
	st, err := eng.Sync(ctx, filesync.SyncOptions{Force: opts.Force})
	if err != nil {
		return st, err
	}
	// The workers drain the queue together (transfers in parallel), then
	// one goes over it again for what their outcomes queued (a conflict
	// copy's upload).
	ws := fileWorkers(db, a, eng, nil, log, backoff.Outbox)
	var g errgroup.Group
	for _, w := range ws {
		g.Go(func() error { return w.Drain(ctx) })
	}
	if err := g.Wait(); err != nil {
		return st, err
	}
	return st, ws[0].Drain(ctx)
}

// recordHealth notes the outcome of a pass of a service, and returns err.
func recordHealth(ctx context.Context, db *store.DB, account, service string, err error) error {
	health := hsync.Health{DB: db}
	if err != nil {
		health.Failure(ctx, account, service, 1, err)
		return fmt.Errorf("%s: %w", service, err)
	}
	health.Success(ctx, account, service)
	return nil
}

// VerifyOptions configure VerifyOnce.
type VerifyOptions struct {
	Account string // "" for every account
	Repair  bool
	Log     *slog.Logger
}

// VerifyOnce compares the mail mirror in full with the server (and
// repairs it when asked), through the running daemon when there is one.
func VerifyOnce(ctx context.Context, cfg *config.Config, opts VerifyOptions) (results []VerifyResult, delegated bool, err error) {
	mode := mailsync.CheckOnly
	if opts.Repair {
		mode = mailsync.Repair
	}
	delegated, err = onMailEngines(ctx, cfg, engineRun{
		account: opts.Account, log: opts.Log,
		delegate: func(c *control.Client) error {
			raw, err := c.VerifyNow(ctx, opts.Account, opts.Repair)
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, &results)
		},
		each: func(a config.Account, db *store.DB, eng *mailsync.Engine, _ *slog.Logger) error {
			res := VerifyResult{Account: a.Name}
			var err error
			if eng != nil {
				res.Mail, err = eng.Verify(ctx, mode)
				if err = recordHealth(ctx, db, a.Name, "imap", err); err != nil {
					res.Error = err.Error()
				}
			}
			results = append(results, res)
			return err
		},
	})
	return results, delegated, err
}

// engineRun is one command run on the mail engine of each selected
// account (each, in this process) or by the running daemon (delegate).
type engineRun struct {
	account  string
	log      *slog.Logger
	progress func(mailsync.Progress)
	skipMail bool // each gets no mail engine
	delegate func(*control.Client) error
	// each gets a nil engine for an account without mail; it records the
	// services' health itself.
	each func(config.Account, *store.DB, *mailsync.Engine, *slog.Logger) error
}

// onMailEngines runs r: under the data directory's lock with engines of
// its own, or, when a daemon holds the lock, by asking that daemon (two
// processes never sync one account at once).
func onMailEngines(ctx context.Context, cfg *config.Config, r engineRun) (delegated bool, err error) {
	if r.account != "" {
		if _, ok := cfg.Account(r.account); !ok {
			return false, fmt.Errorf("no account %q is configured", r.account)
		}
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return false, err
	}
	lock, err := AcquireLock(cfg.DataDir)
	if errors.Is(err, ErrLocked) {
		if err := r.delegate(control.NewClient(cfg.ControlSocket())); err != nil {
			return true, fmt.Errorf("the running daemon: %w", err)
		}
		return true, nil
	}
	if err != nil {
		return false, err
	}
	defer lock.Release()
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return false, err
	}
	defer db.Close()
	if err := db.EnsureAccounts(ctx, accountNames(cfg)); err != nil {
		return false, err
	}
	log := r.log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	var errs []error
	for _, a := range cfg.Accounts {
		if r.account != "" && a.Name != r.account {
			continue
		}
		alog := log.With("account", a.Name)
		var eng *mailsync.Engine
		if a.Mail != nil && a.Mail.IMAP != nil && !r.skipMail {
			if eng, _, err = mailEngine(cfg, a, db, alog, r.progress, nil); err != nil {
				return false, err
			}
		}
		err := r.each(a, db, eng, alog)
		if eng != nil {
			eng.Close()
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", a.Name, err))
		}
	}
	return false, errors.Join(errs...)
}
