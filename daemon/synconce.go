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
	if opts.Account != "" {
		if _, ok := cfg.Account(opts.Account); !ok {
			return nil, false, fmt.Errorf("no account %q is configured", opts.Account)
		}
	}
	if err := prepareDataDir(cfg.DataDir); err != nil {
		return nil, false, err
	}
	lock, err := AcquireLock(cfg.DataDir)
	if errors.Is(err, ErrLocked) {
		raw, err := control.NewClient(cfg.ControlSocket()).SyncNow(ctx, opts.Account)
		if err != nil {
			return nil, true, fmt.Errorf("the running daemon: %w", err)
		}
		err = json.Unmarshal(raw, &results)
		return results, true, err
	}
	if err != nil {
		return nil, false, err
	}
	defer lock.Release()
	db, err := store.Open(ctx, cfg.DBPath())
	if err != nil {
		return nil, false, err
	}
	defer db.Close()
	if err := db.EnsureAccounts(ctx, accountNames(cfg)); err != nil {
		return nil, false, err
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	health := hsync.Health{DB: db}
	var errs []error
	for _, a := range cfg.Accounts {
		if opts.Account != "" && a.Name != opts.Account {
			continue
		}
		res := SyncResult{Account: a.Name}
		if a.Mail != nil && a.Mail.IMAP != nil {
			eng, _, err := mailEngine(cfg, a, db, log.With("account", a.Name), opts.Progress)
			if err != nil {
				return results, false, err
			}
			res.Mail, err = eng.SyncOnce(ctx)
			eng.Close()
			if err != nil {
				res.Error = err.Error()
				errs = append(errs, fmt.Errorf("account %s: %w", a.Name, err))
				health.Failure(ctx, a.Name, "imap", 1, err)
			} else {
				health.Success(ctx, a.Name, "imap")
			}
		}
		results = append(results, res)
	}
	return results, false, errors.Join(errs...)
}
