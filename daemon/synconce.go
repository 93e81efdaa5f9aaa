package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
)

// SyncOnceOptions configure SyncOnce.
type SyncOnceOptions struct {
	Account  string // "" for every account
	Only     string // "" or "mail"
	Progress func(mailsync.Progress)
	Log      *slog.Logger
}

// SyncOnce runs one full pass without a daemon. When a daemon owns the
// data directory it asks that daemon to do it instead (two processes never
// sync one account at once), and reports Delegated.
func SyncOnce(ctx context.Context, cfg *config.Config, opts SyncOnceOptions) (results []SyncResult, delegated bool, err error) {
	if opts.Only != "" && opts.Only != "mail" {
		return nil, false, fmt.Errorf("--only %q: only mail can be synced so far", opts.Only)
	}
	delegated, err = onMailEngines(ctx, cfg, engineRun{
		account: opts.Account, log: opts.Log, progress: opts.Progress,
		delegate: func(c *control.Client) error {
			raw, err := c.SyncNow(ctx, opts.Account)
			if err != nil {
				return err
			}
			return json.Unmarshal(raw, &results)
		},
		each: func(a config.Account, eng *mailsync.Engine) error {
			res := SyncResult{Account: a.Name}
			var err error
			if eng != nil {
				if res.Mail, err = eng.SyncOnce(ctx); err != nil {
					res.Error = err.Error()
				}
			}
			results = append(results, res)
			return err
		},
	})
	return results, delegated, err
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
		each: func(a config.Account, eng *mailsync.Engine) error {
			res := VerifyResult{Account: a.Name}
			var err error
			if eng != nil {
				if res.Mail, err = eng.Verify(ctx, mode); err != nil {
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
	delegate func(*control.Client) error
	// each gets a nil engine for an account without mail.
	each func(config.Account, *mailsync.Engine) error
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
	health := hsync.Health{DB: db}
	var errs []error
	for _, a := range cfg.Accounts {
		if r.account != "" && a.Name != r.account {
			continue
		}
		if a.Mail == nil || a.Mail.IMAP == nil {
			r.each(a, nil)
			continue
		}
		eng, _, err := mailEngine(cfg, a, db, log.With("account", a.Name), r.progress)
		if err != nil {
			return false, err
		}
		err = r.each(a, eng)
		eng.Close()
		if err != nil {
			errs = append(errs, fmt.Errorf("account %s: %w", a.Name, err))
			health.Failure(ctx, a.Name, "imap", 1, err)
		} else {
			health.Success(ctx, a.Name, "imap")
		}
	}
	return false, errors.Join(errs...)
}
