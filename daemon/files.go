package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/localfs"
	"github.com/holdover/holdover/connectors/webdav"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/filesync"
	"github.com/holdover/holdover/sync/outbox"
)

// hasFiles reports whether an account syncs a folder.
func hasFiles(a config.Account) bool { return a.Files != nil && a.Files.WebDAV != nil }

// listParallel is how many folders a listing asks for at once.
const listParallel = 16

// fileRemote is the WebDAV client of an account.
func fileRemote(a config.Account) (hsync.FileRemote, error) {
	dav := a.Files.WebDAV
	// A listing is one small PROPFIND per folder where the server
	// refuses a whole-tree one (Apache does): over a 50 ms link, 250
	// folders four at a time are 3 s of round trips, sixteen at a time
	// under one. Transfers are bounded apart, by the number of workers.
	return webdav.New(webdav.Options{URL: dav.URL, Username: dav.Username, Password: dav.Secret.Resolve, Parallel: listParallel})
}

// fileEngine wires an account's files settings to a files engine. The
// local folder is created (private to the user) when it does not exist.
func fileEngine(a config.Account, db *store.DB, log *slog.Logger, progress func(filesync.Progress)) (*filesync.Engine, error) {
	remote, err := fileRemote(a)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(a.Files.LocalDir, 0o700); err != nil {
		return nil, fmt.Errorf("account %s: files.local_dir: %w", a.Name, err)
	}
	local, err := localfs.Open(a.Files.LocalDir, localfs.Options{Logger: log})
	if err != nil {
		return nil, fmt.Errorf("account %s: files.local_dir: %w", a.Name, err)
	}
	return filesync.New(filesync.Options{
		Account: a.Name, DB: db, Remote: remote, Local: local, Log: log,
		MaxDelete: a.Files.MaxDelete, MaxDeleteCount: a.Files.MaxDeleteCount, Parallel: a.Files.Transfers,
		Progress: progress,
	}), nil
}

// fileWorkers replay an account's files actions, Transfers of them at
// once (one action per path at a time: the outbox's claim sees to it).
func fileWorkers(db *store.DB, a config.Account, eng *filesync.Engine, nudge func(), log *slog.Logger, retry backoff.Policy) []*outbox.Worker {
	exec := &filesync.Executor{Engine: eng, Nudge: nudge}
	n := max(1, a.Files.Transfers)
	ws := make([]*outbox.Worker, n)
	breaker := &outbox.Breaker{}
	for i := range ws {
		ws[i] = outbox.New(outbox.Worker{
			DB: db, Account: a.Name, Service: "webdav", Kinds: filesync.Kinds,
			Exec: exec, Health: &hsync.Health{DB: db}, Log: log, Policy: retry, Breaker: breaker,
		})
	}
	return ws
}

// FilesStatus is how one account's files sync stands.
type FilesStatus struct {
	Account     string              `json:"account"`
	LocalDir    string              `json:"local_dir"`
	URL         string              `json:"url"`
	Files       int64               `json:"files"`
	Folders     int64               `json:"folders"`
	Bytes       int64               `json:"bytes"`
	PendingUp   int                 `json:"pending_up"`
	PendingDown int                 `json:"pending_down"`
	Conflicts   int                 `json:"conflicts"`
	LastSync    *time.Time          `json:"last_sync,omitempty"`
	LastError   string              `json:"last_error,omitempty"`
	Guard       string              `json:"guard,omitempty"` // why the sync is stopped
	GuardSince  *time.Time          `json:"guard_since,omitempty"`
	Server      store.HealthState   `json:"server"`
	Problems    []store.FileProblem `json:"problems,omitempty"`
}

// CollectFilesStatus reads the store for every account that syncs files
// (or one).
func CollectFilesStatus(ctx context.Context, cfg *config.Config, db *store.DB, account string) ([]FilesStatus, error) {
	health, err := db.HealthRows(ctx)
	if err != nil {
		return nil, err
	}
	var out []FilesStatus
	for _, a := range cfg.Accounts {
		if !hasFiles(a) || (account != "" && a.Name != account) {
			continue
		}
		s := FilesStatus{Account: a.Name, LocalDir: a.Files.LocalDir, URL: a.Files.WebDAV.URL, Server: store.HealthUnknown}
		st, err := db.FileStats(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		s.Files, s.Folders, s.Bytes = st.Files, st.Dirs, st.Bytes
		if s.PendingUp, err = db.OpenOutboxCount(ctx, a.Name, filesync.Kinds); err != nil {
			return nil, err
		}
		if s.Conflicts, err = db.OpenConflictCount(ctx, a.Name, "file"); err != nil {
			return nil, err
		}
		root, err := db.FileRoot(ctx, a.Name)
		if err != nil {
			return nil, err
		}
		s.PendingDown, s.LastError, s.Guard, s.Problems = root.PendingDown, root.LastError, root.Guard, root.Problems
		// An upload the server refused for good is not synced, whatever
		// the counts say: each is a problem until retried or cancelled.
		dead, err := db.ListOutbox(ctx, store.OutboxFilter{Account: a.Name, State: store.OutboxDead})
		if err != nil {
			return nil, err
		}
		for _, r := range dead {
			if p, ok := filesync.ActionPath(r); ok {
				s.Problems = append(s.Problems, store.FileProblem{Path: p, Side: "remote",
					Problem: fmt.Sprintf("not uploaded: %s (holdover outbox retry %d, or cancel)", r.LastError, r.ID)})
			}
		}
		if !root.LastSyncAt.IsZero() {
			s.LastSync = &root.LastSyncAt
		}
		if !root.GuardSince.IsZero() {
			s.GuardSince = &root.GuardSince
		}
		for _, h := range health {
			if h.Account == a.Name && h.Service == "webdav" {
				s.Server = h.State
			}
		}
		out = append(out, s)
	}
	if account != "" && len(out) == 0 {
		return nil, fmt.Errorf("account %q does not sync files (no files: in its configuration)", account)
	}
	return out, nil
}
