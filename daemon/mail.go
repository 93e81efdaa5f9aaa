package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	gosync "sync"
	"time"

	"github.com/holdover/holdover/config"
	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/filesync"
	"github.com/holdover/holdover/sync/mailsync"
	"github.com/holdover/holdover/sync/outbox"
)

// mailEngine wires an account's IMAP settings to a mail engine. This is
// the one place that knows both the connector and the engine.
// w (nil without a daemon) shows its connection attempts in status.
func mailEngine(cfg *config.Config, acct config.Account, db *store.DB, log *slog.Logger, progress func(mailsync.Progress), w *connectWatch) (*mailsync.Engine, hsync.MailIdleDialer, error) {
	spool := filepath.Join(cfg.DataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		return nil, nil, fmt.Errorf("spool dir: %w", err)
	}
	icfg := imapConfig(acct.Mail, imapSource(acct, signInSource(cfg.DataDir, acct, log)))
	var filter mailsync.FolderFilter
	filter.Include = acct.Mail.Folders.Include
	filter.Exclude = acct.Mail.Folders.Exclude
	eng := mailsync.New(mailsync.Options{
		Account: acct.Name, DB: db, SpoolDir: spool, Log: log, Progress: progress, Filter: filter,
		Connections: acct.Mail.Connections,
		Dial:        watchDial(w, acct.Name, "imap", func(ctx context.Context) (hsync.MailRemote, error) { return imapconn.Dial(ctx, icfg) }),
	})
	idle := watchDial(w, acct.Name, "imap", func(ctx context.Context) (hsync.MailIdler, error) { return imapconn.Dial(ctx, icfg) })
	return eng, idle, nil
}

// accountRunner is one account's running sync loops.
type accountRunner struct {
	acct    config.Account
	mail    *mailsync.Runner
	cal     *calsync.Runner
	files   *filesync.Runner
	workers map[string]*outbox.Worker // by service
	// fileWorkers replay the files actions, several at once.
	fileWorkers []*outbox.Worker
	cancel      context.CancelFunc
	done        chan struct{}
}

// runners starts, stops and restarts account loops as the configuration
// changes. Each loop runs under ctx; stop waits for it to end.
type runners struct {
	mu  gosync.Mutex
	all map[string]*accountRunner
}

// apply makes the running loops match cfg: removed accounts stop (their
// data stays), changed ones restart with the new settings, new ones
// start.
func (d *Daemon) applyAccounts(ctx context.Context, cfg *config.Config) error {
	want := map[string]config.Account{}
	for _, a := range cfg.Accounts {
		want[a.Name] = a
	}
	// Take the loops to stop out of the table first and wait for them with
	// the lock released: a worker may be calling Nudge meanwhile.
	d.runners.mu.Lock()
	if d.runners.all == nil {
		d.runners.all = map[string]*accountRunner{}
	}
	var stopping []*accountRunner
	for name, r := range d.runners.all {
		if a, ok := want[name]; ok && reflect.DeepEqual(a, r.acct) && cfg.Sync == d.runSync {
			continue
		}
		stopping = append(stopping, r)
		delete(d.runners.all, name)
	}
	d.runSync = cfg.Sync
	d.runners.mu.Unlock()
	for _, r := range stopping {
		r.cancel()
		<-r.done
		d.log.Info("account stopped", "account", r.acct.Name)
	}

	d.runners.mu.Lock()
	defer d.runners.mu.Unlock()
	for name, a := range want {
		if _, ok := d.runners.all[name]; ok {
			continue
		}
		r, err := d.startAccount(ctx, cfg, a)
		if err != nil {
			return err
		}
		d.runners.all[name] = r
	}
	return nil
}

func (d *Daemon) startAccount(ctx context.Context, cfg *config.Config, a config.Account) (*accountRunner, error) {
	actx, cancel := context.WithCancel(ctx)
	r := &accountRunner{acct: a, cancel: cancel, done: make(chan struct{})}
	log := d.log.With("account", a.Name)
	if a.Mail != nil && a.Mail.IMAP != nil {
		eng, idle, err := mailEngine(cfg, a, d.db, log, nil, d.connects)
		if err != nil {
			cancel()
			return nil, err
		}
		icfg := imapConfig(a.Mail, imapSource(a, signInSource(cfg.DataDir, a, log)))
		r.mail = &mailsync.Runner{Engine: eng, Interval: cfg.Sync.Interval, VerifyEvery: verifyEvery(cfg), IdleDial: idle, IdleFolders: a.Mail.Idle, Health: &hsync.Health{DB: d.db}, Retry: d.opts.Retry,
			NotifyDial: func(ctx context.Context) (hsync.MailNotifier, error) { return imapconn.DialNotifier(ctx, icfg) },
			Poll:       a.Mail.Poll}
	}
	if hasCalendar(a) {
		eng, err := calEngine(a, d.db, log)
		if err != nil {
			cancel()
			return nil, err
		}
		r.cal = &calsync.Runner{Engine: eng, Interval: cfg.Sync.Interval, Health: &hsync.Health{DB: d.db}, Retry: d.opts.Retry}
	}
	r.workers = map[string]*outbox.Worker{}
	src := signInSource(cfg.DataDir, a, log)
	if hasCalendar(a) {
		remote, err := calRemote(a)
		if err != nil {
			cancel()
			return nil, err
		}
		r.workers["caldav"] = calWorker(d.db, a, remote, log, d.opts.Retry)
	}
	if a.Mail != nil && a.Mail.IMAP != nil {
		r.workers["imap"] = imapWorker(d.db, a, imapSource(a, src), log, d.opts.Retry, d.connects)
	}
	if a.Mail != nil && a.Mail.SMTP != nil {
		r.workers["smtp"] = smtpWorker(d.db, a, src, log, d.opts.Retry, d.Nudge, d.connects)
	}
	if hasFiles(a) {
		eng, err := fileEngine(a, d.db, log, nil)
		if err != nil {
			cancel()
			return nil, err
		}
		r.files = &filesync.Runner{Engine: eng, Interval: a.Files.Poll, Health: &hsync.Health{DB: d.db}, Retry: d.opts.Retry}
		r.fileWorkers = fileWorkers(d.db, a, eng, r.files.Nudge, log, d.opts.Retry)
		r.files.Queued = func() { wakeAll(r.fileWorkers) }
		r.files.Answered = d.expedite(a.Name, "webdav", r.fileWorkers...)
		r.files.Passed = d.passes.filesPassed(a.Name)
	}
	if r.mail != nil {
		r.mail.Kinds, r.mail.Answered = outbox.ServiceKinds["imap"], d.expedite(a.Name, "imap", r.workers["imap"])
		r.mail.Passed = d.passes.mailPassed(a.Name)
	}
	if r.cal != nil {
		r.cal.Kinds, r.cal.Answered = outbox.ServiceKinds["caldav"], d.expedite(a.Name, "caldav", r.workers["caldav"])
		r.cal.Passed = d.passes.calPassed(a.Name)
	}
	var wg gosync.WaitGroup
	if r.mail != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.mail.Run(actx) }()
	}
	if r.cal != nil {
		wg.Add(1)
		go func() { defer wg.Done(); r.cal.Run(actx) }()
	}
	if r.files != nil {
		wg.Go(func() { r.files.Run(actx) })
	}
	for _, w := range r.workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.Run(actx) }()
	}
	for _, w := range r.fileWorkers {
		wg.Go(func() { w.Run(actx) })
	}
	go func() {
		wg.Wait()
		close(r.done)
	}()
	log.Info("account started", "mail", r.mail != nil, "calendar", r.cal != nil, "files", r.files != nil, "outbox", len(r.workers)+len(r.fileWorkers))
	return r, nil
}

// stopAccounts stops every loop (shutdown).
func (d *Daemon) stopAccounts() {
	d.runners.mu.Lock()
	all := d.runners.all
	d.runners.all = nil
	d.runners.mu.Unlock()
	for _, r := range all {
		r.cancel()
		<-r.done
	}
}

// SyncResult is one account's outcome of a requested pass.
type SyncResult struct {
	Account  string          `json:"account"`
	Mail     mailsync.Stats  `json:"mail"`
	Calendar *calsync.Stats  `json:"calendar,omitempty"`
	Files    *filesync.Stats `json:"files,omitempty"`
	Error    string          `json:"error,omitempty"`
}

// SyncNow implements control.Daemon.
func (d *Daemon) SyncNow(ctx context.Context, account string, o control.SyncOptions) (any, error) {
	return d.syncNow(ctx, account, o.Force)
}

// runnersFor returns the running loops of every account, or of one.
func (d *Daemon) runnersFor(account string) ([]*accountRunner, error) {
	d.runners.mu.Lock()
	var targets []*accountRunner
	for name, r := range d.runners.all {
		if account == "" || account == name {
			targets = append(targets, r)
		}
	}
	d.runners.mu.Unlock()
	if account != "" && len(targets) == 0 {
		return nil, fmt.Errorf("no account %q is configured", account)
	}
	slices.SortFunc(targets, func(a, b *accountRunner) int { return strings.Compare(a.acct.Name, b.acct.Name) })
	return targets, nil
}

// syncNow runs a full pass on the running loops (all accounts, or one).
func (d *Daemon) syncNow(ctx context.Context, account string, force bool) ([]SyncResult, error) {
	targets, err := d.runnersFor(account)
	if err != nil {
		return nil, err
	}
	var out []SyncResult
	for _, r := range targets {
		res := SyncResult{Account: r.acct.Name}
		var errs []error
		if r.mail != nil {
			st, err := r.mail.SyncNow(ctx)
			res.Mail = st
			errs = append(errs, err)
		}
		if r.cal != nil {
			st, err := r.cal.SyncNow(ctx)
			res.Calendar = &st
			errs = append(errs, err)
		}
		if r.files != nil {
			st, err := r.files.SyncNow(ctx, filesync.SyncOptions{Force: force})
			res.Files = &st
			errs = append(errs, err)
		}
		if err := errors.Join(errs...); err != nil {
			res.Error = err.Error()
		}
		out = append(out, res)
	}
	return out, nil
}

// verifyEvery turns sync.verify into the runner's setting: 0 (off) is
// negative there, since the runner's zero means its default.
func verifyEvery(cfg *config.Config) time.Duration {
	if cfg.Sync.Verify == 0 {
		return -1
	}
	return cfg.Sync.Verify
}

// VerifyResult is one account's outcome of a requested verification.
type VerifyResult struct {
	Account string                `json:"account"`
	Mail    mailsync.VerifyReport `json:"mail"`
	Error   string                `json:"error,omitempty"`
}

// VerifyNow implements control.Daemon.
func (d *Daemon) VerifyNow(ctx context.Context, account string, repair bool) (any, error) {
	targets, err := d.runnersFor(account)
	if err != nil {
		return nil, err
	}
	mode := mailsync.CheckOnly
	if repair {
		mode = mailsync.Repair
	}
	var out []VerifyResult
	for _, r := range targets {
		res := VerifyResult{Account: r.acct.Name}
		if r.mail != nil {
			rep, err := r.mail.VerifyNow(ctx, mode)
			res.Mail = rep
			if err != nil {
				res.Error = err.Error()
			}
		}
		out = append(out, res)
	}
	return out, nil
}

// expedite returns what a sync loop calls after a successful pass: the
// provider answers, so the service's failed actions are due now, and its
// worker is woken (a short outage never leaves the queue waiting out a
// long backoff).
func (d *Daemon) expedite(account, service string, ws ...*outbox.Worker) func(context.Context) {
	return func(ctx context.Context) {
		if len(ws) == 0 || ws[0] == nil {
			return
		}
		n, err := d.db.ExpediteFailed(ctx, account, outbox.ServiceKinds[service])
		if err != nil {
			d.log.Warn("cannot bring failed actions forward", "account", account, "service", service, "err", err)
			return
		}
		if n > 0 {
			wakeAll(ws)
		}
	}
}

func wakeAll(ws []*outbox.Worker) {
	for _, w := range ws {
		w.Wake()
	}
}
