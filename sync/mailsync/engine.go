// Package mailsync is the mail engine: it mirrors an account's IMAP
// folders into the store and keeps them current, incrementally.
//
// Invariants:
//   - A message is downloaded at most once per account: before fetching a
//     body, the engine looks for a stored body with the same Message-ID and
//     size (a move, a copy, a folder rename, a UIDVALIDITY change) and
//     reuses it.
//   - No network I/O happens inside a write transaction: bodies are spooled
//     to a temp file, then committed in one short transaction per batch,
//     together with the folder's resume point (synced_uid). Killing the
//     process at any moment loses at most the batch in flight, and the
//     next run continues after the last committed one.
//   - A message row is never deleted because of a failure, only because
//     the server no longer lists its UID (or, after a UIDVALIDITY change,
//     no longer has a message with its identity).
//   - A message put in a folder locally (an APPEND or COPY through the
//     local IMAP endpoint) is a row with no remote location until its
//     queued append is replayed: the engine, which compares the server
//     with remote locations only, neither lists nor deletes it, and a new
//     server message with its Message-ID and size in its folder is bound
//     to it (store.Tx.BindLocalMailMessage) instead of becoming a second
//     row: the replay's copy, met before the replay recorded it.
//   - An unchanged account costs one round trip, whatever its folder
//     count: the listing asks for every folder's status (LIST-STATUS), or
//     STATUS commands for all folders are sent together, and a folder is
//     skipped without a SELECT only when UIDVALIDITY, UIDNEXT, the message
//     count and HIGHESTMODSEQ all equal what the last complete pass
//     recorded. Without CONDSTORE no status shows a flag change, so every
//     folder is selected (SyncChanged, the poll of a server without
//     NOTIFY, then skips on the counts and leaves flags to SyncOnce).
//   - The incremental rule for a changed folder (listAbove has the proof):
//     the folder's listing watermark W (synced_uid) moves only with the
//     engine's own listing, never with a UID learned from a replayed move
//     (COPYUID). UIDs only grow, so at or below W the server's set can only
//     shrink, and the stored set there only loses what the server lost
//     too: equal counts prove equal sets. Above W every UID is compared.
//     When the counts differ, the folder's full UID list is compared
//     (ESEARCH keeps that one short response). QRESYNC (VANISHED) would
//     name the expunged UIDs instead, but go-imap v2's client (beta.8)
//     cannot send it; the rule above needs nothing beyond RFC 3501.
//   - A full verification (Verify: every UID and flag) runs daily and
//     after each outage; a difference it finds is logged as a bug, with
//     counts, and repaired.
//   - Flags from the server replace local flags; local flag edits reach the
//     server as +/- deltas through the outbox, so they merge.
package mailsync

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	gosync "sync"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// Options configure an Engine.
type Options struct {
	Account string
	DB      *store.DB
	Dial    hsync.MailDialer
	Filter  FolderFilter
	// SpoolDir holds bodies between download and commit; "" means the
	// system temp dir. Use a directory on the data disk in production.
	SpoolDir string
	Log      *slog.Logger
	// Progress, when set, is called as messages are committed.
	Progress func(Progress)
	// A batch is committed after this many messages or spooled bytes.
	BatchMessages int
	BatchBytes    int64
	// Connections bounds the sessions a pass uses at once, its own
	// included: a download of more than one batch runs on up to this many
	// (see fetch.go). 0 means 3; 1 keeps every pass on one connection.
	Connections int
}

// Progress reports a folder's download progress.
type Progress struct {
	Account, Folder  string
	Done, Total      int   // messages
	Bytes, BytesTodo int64 // body bytes downloaded / announced so far
}

// Stats count what a sync pass did.
type Stats struct {
	Folders           int // synced
	Skipped           int // unchanged, one SELECT each
	New               int // message rows added
	Downloaded        int // bodies fetched
	Reused            int // bodies found already stored
	Bytes             int64
	FlagChanges       int
	Expunged          int
	FoldersRemoved    int
	UIDValidityResets int
}

func (s *Stats) add(o Stats) {
	s.Folders += o.Folders
	s.Skipped += o.Skipped
	s.New += o.New
	s.Downloaded += o.Downloaded
	s.Reused += o.Reused
	s.Bytes += o.Bytes
	s.FlagChanges += o.FlagChanges
	s.Expunged += o.Expunged
	s.FoldersRemoved += o.FoldersRemoved
	s.UIDValidityResets += o.UIDValidityResets
}

// Engine mirrors one account. It is not safe for concurrent use: one
// goroutine (the account's sync loop) owns it.
type Engine struct {
	opts   Options
	log    *slog.Logger
	remote hsync.MailRemote

	lanesMu   gosync.Mutex
	idleLanes []hsync.MailRemote // see lanes.go
}

// New returns an engine; it connects on first use.
func New(opts Options) *Engine {
	if opts.BatchMessages <= 0 {
		opts.BatchMessages = 200
	}
	if opts.BatchBytes <= 0 {
		opts.BatchBytes = 16 << 20
	}
	if opts.Connections <= 0 {
		opts.Connections = 3
	}
	if opts.SpoolDir == "" {
		opts.SpoolDir = os.TempDir()
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{opts: opts, log: log.With("account", opts.Account, "service", "imap")}
}

// Close drops the connection.
func (e *Engine) Close() error {
	e.closeLanes()
	if e.remote == nil {
		return nil
	}
	err := e.remote.Close()
	e.remote = nil
	return err
}

// session returns the open session, dialing when there is none.
func (e *Engine) session(ctx context.Context) (hsync.MailRemote, error) {
	if e.remote != nil && hsync.SignInEnding(e.remote) {
		// Replaced before the server ends it for an expired token.
		e.remote.Close()
		e.remote = nil
	}
	if e.remote != nil {
		return e.remote, nil
	}
	r, err := e.opts.Dial(ctx)
	if err != nil {
		return nil, err
	}
	e.remote = r
	return r, nil
}

// fail drops the session after an error so the next call reconnects: the
// connection's state is unknown after a failed command.
func (e *Engine) fail(err error) error {
	if err != nil && e.remote != nil {
		e.remote.Close()
		e.remote = nil
	}
	return err
}

// SyncOnce mirrors every selected folder once: the folder list, then each
// folder's new messages, flag changes and expunges, then it drops bodies
// no message uses any more. A folder whose status proves it unchanged
// (see unchanged) is skipped without being selected.
func (e *Engine) SyncOnce(ctx context.Context) (Stats, error) {
	return e.pass(ctx, everyFolder)
}

// SyncChanged is the cheap poll of a server without NOTIFY: it syncs the
// folders whose status shows a change. Without CONDSTORE a flag change
// shows in no status, so it waits for the next SyncOnce.
func (e *Engine) SyncChanged(ctx context.Context) (Stats, error) {
	return e.pass(ctx, changedFolders)
}

func (e *Engine) pass(ctx context.Context, scope passScope) (Stats, error) {
	var st Stats
	defer e.closeLanes()
	reused := e.remote != nil
	r, err := e.session(ctx)
	if err != nil {
		return st, err
	}
	folders, listed, err := e.syncFolderList(ctx, r, &st)
	if err != nil && reused && ctx.Err() == nil && hsync.KindOf(err) == hsync.Transient {
		// A kept connection may have died while idle (a NAT timeout, a
		// server restart): one fresh one before calling it a failure.
		e.fail(err)
		if r, err = e.session(ctx); err != nil {
			return st, err
		}
		folders, listed, err = e.syncFolderList(ctx, r, &st)
	}
	if err != nil {
		return st, e.fail(err)
	}
	folders, err = e.toSync(ctx, r, scope, folders, listed, &st)
	if err != nil {
		return st, e.fail(err)
	}
	var errs []error
	for _, f := range folders {
		fs, err := e.syncFolder(ctx, r, f)
		st.add(fs)
		if err != nil {
			if ctx.Err() != nil || hsync.KindOf(err) != hsync.Permanent {
				// The connection may be gone: stop this pass, keep what is
				// committed, and let the caller retry later.
				return st, e.fail(fmt.Errorf("folder %s: %w", f.Name, err))
			}
			e.log.Warn("folder not synced", "folder", f.Name, "err", err)
			errs = append(errs, fmt.Errorf("folder %s: %w", f.Name, err))
		}
	}
	// Only a pass that removed messages can leave bodies unused; skipping
	// the scan otherwise keeps small passes small.
	if st.Expunged+st.FoldersRemoved+st.UIDValidityResets > 0 {
		err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
			_, err := tx.GCMailBodies(ctx, e.opts.Account)
			return err
		})
		errs = append(errs, err)
	}
	return st, errors.Join(errs...)
}

// SyncFolder syncs one folder (after an IDLE or NOTIFY event, say). A
// folder not mirrored yet is picked up by a SyncChanged pass; one the
// filter leaves out costs nothing.
func (e *Engine) SyncFolder(ctx context.Context, name string) (Stats, error) {
	defer e.closeLanes()
	folders, err := e.opts.DB.MailFolders(ctx, e.opts.Account)
	if err != nil {
		return Stats{}, err
	}
	i := slices.IndexFunc(folders, func(f store.MailFolder) bool { return f.Name == name })
	if i < 0 {
		if name != "" && !e.mirrored(name, folders) {
			return Stats{}, nil
		}
		return e.SyncChanged(ctx)
	}
	r, err := e.session(ctx)
	if err != nil {
		return Stats{}, err
	}
	st, err := e.syncFolder(ctx, r, folders[i])
	return st, e.fail(err)
}

// syncFolderList mirrors the server's folder list: new folders are added,
// folders gone from the server (or no longer selected) are removed
// locally. It returns the folders to sync.
//
// It also returns the state of each folder the listing described
// (LIST-STATUS), by name.
func (e *Engine) syncFolderList(ctx context.Context, r hsync.MailRemote, st *Stats) ([]store.MailFolder, map[string]hsync.FolderState, error) {
	remote, err := r.ListFolders(ctx)
	if err != nil {
		return nil, nil, err
	}
	local, err := e.opts.DB.MailFolders(ctx, e.opts.Account)
	if err != nil {
		return nil, nil, err
	}
	keep := map[string]bool{}
	listed := map[string]hsync.FolderState{}
	var wanted []hsync.RemoteFolder
	for _, f := range remote {
		if f.NoSelect || !e.opts.Filter.Match(f.Name, f.Delimiter) {
			continue
		}
		wanted = append(wanted, f)
		keep[f.Name] = true
		if f.State != nil {
			listed[f.Name] = *f.State
		}
	}
	all := local
	if folderListChanged(local, wanted) {
		err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
			for _, f := range wanted {
				if _, err := tx.UpsertMailFolder(ctx, e.opts.Account, f.Name, f.Delimiter, f.SpecialUse); err != nil {
					return err
				}
			}
			for _, f := range local {
				if !keep[f.Name] {
					if err := tx.DeleteMailFolder(ctx, f.ID); err != nil {
						return err
					}
					st.FoldersRemoved++
				}
			}
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if all, err = e.opts.DB.MailFolders(ctx, e.opts.Account); err != nil {
			return nil, nil, err
		}
	}
	// INBOX first: it is what people look at.
	slices.SortStableFunc(all, func(a, b store.MailFolder) int {
		switch {
		case a.Name == "INBOX" && b.Name != "INBOX":
			return -1
		case b.Name == "INBOX" && a.Name != "INBOX":
			return 1
		}
		return 0
	})
	return all, listed, nil
}

// folderListChanged reports whether the stored folder list differs from
// the server's: an unchanged one costs no write transaction (and its
// fsync) on a no-op pass.
func folderListChanged(local []store.MailFolder, remote []hsync.RemoteFolder) bool {
	if len(local) != len(remote) {
		return true
	}
	stored := make(map[string]store.MailFolder, len(local))
	for _, f := range local {
		stored[f.Name] = f
	}
	for _, f := range remote {
		l, ok := stored[f.Name]
		if !ok || l.Delimiter != f.Delimiter || l.SpecialUse != f.SpecialUse {
			return true
		}
	}
	return false
}
