package daemon

import (
	"context"
	"fmt"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/connectors/localfs"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/filesync"
)

// Decisions a person makes on the queue, shared by the CLI (`conflicts
// resolve`, `outbox retry|cancel`) and the API, so both decide the same
// way. Notify is told which account's queue changed (the daemon wakes
// its workers; the CLI nudges the daemon over its socket).
//
// Errors: a missing ID wraps store.ErrNotFound, a decision already made
// store.ErrState, a decision this conflict cannot take apiv1.ErrInvalid.

// Decider applies a person's decisions.
type Decider struct {
	DB     *store.DB
	Config *config.Config
	Notify func(account, service string)
}

func (d Decider) notify(account, service string) {
	if d.Notify != nil {
		d.Notify(account, service)
	}
}

// Resolve decides conflict id: take is local, remote or (files) both.
// Calendar conflicts go through the calendar's local-change API, file
// conflicts through the folder, a send's through its outbox action (send
// again, or accept that the server has it).
func (d Decider) Resolve(ctx context.Context, id int64, take string) error {
	c, err := d.DB.ConflictByID(ctx, id)
	if err != nil {
		return err
	}
	return d.resolve(ctx, c, take)
}

func (d Decider) resolve(ctx context.Context, c store.Conflict, take string) error {
	if take != calsync.TakeLocal && take != calsync.TakeRemote && take != filesync.TakeBoth {
		return fmt.Errorf("take %q: want local, remote, or (files) both: %w", take, apiv1.ErrInvalid)
	}
	if !c.Open() {
		return fmt.Errorf("conflict %d was resolved already (took %s): %w", c.ID, c.Resolution, store.ErrState)
	}
	if take == filesync.TakeBoth && c.Kind != "file" {
		return fmt.Errorf("conflict %d: take both is for file conflicts (both files are kept); this is a %s conflict: %w", c.ID, c.Kind, apiv1.ErrInvalid)
	}
	switch c.Kind {
	case "calendar":
		l := &calsync.Local{DB: d.DB, Notify: d.notify}
		return l.Resolve(ctx, c.ID, take)
	case "file":
		folder, err := d.localFolder(c.Account)
		if err != nil {
			return err
		}
		if err := filesync.ResolveConflict(ctx, d.DB, folder, c, take); err != nil {
			return err
		}
		d.notify(c.Account, "webdav")
		return nil
	case "mail":
		if c.OutboxID == 0 {
			return fmt.Errorf("conflict %d has no action left to decide on: %w", c.ID, apiv1.ErrInvalid)
		}
		var err error
		if take == calsync.TakeLocal {
			err = d.DB.RetryOutbox(ctx, c.OutboxID)
		} else {
			err = d.DB.CancelOutbox(ctx, c.OutboxID)
		}
		if err == nil {
			d.notify(c.Account, "")
		}
		return err
	}
	return fmt.Errorf("conflict %d: %s conflicts cannot be resolved by this version: %w", c.ID, c.Kind, apiv1.ErrInvalid)
}

// localFolder opens the synced folder of an account.
func (d Decider) localFolder(account string) (*localfs.Folder, error) {
	if d.Config != nil {
		if a, ok := d.Config.Account(account); ok && a.Files != nil {
			return localfs.Open(a.Files.LocalDir, localfs.Options{})
		}
	}
	return nil, fmt.Errorf("account %q syncs no files in the current configuration", account)
}

// Retry sends a failed, conflicting or dead action back to the queue. An
// action with an open calendar conflict is decided through it (your
// version is put back, not just the row); resolved reports that.
func (d Decider) Retry(ctx context.Context, id int64) (resolved *store.Conflict, err error) {
	return d.decideAction(ctx, id, calsync.TakeLocal, d.DB.RetryOutbox)
}

// Cancel cancels an action that has not been sent (its payload is kept);
// with an open calendar conflict, the server's version is taken.
func (d Decider) Cancel(ctx context.Context, id int64) (resolved *store.Conflict, err error) {
	return d.decideAction(ctx, id, calsync.TakeRemote, d.DB.CancelOutbox)
}

func (d Decider) decideAction(ctx context.Context, id int64, take string, plain func(context.Context, int64) error) (*store.Conflict, error) {
	c, ok, err := d.DB.OpenConflictOfOutbox(ctx, id)
	if err != nil {
		return nil, err
	}
	if ok && c.Kind == "calendar" {
		return &c, d.resolve(ctx, c, take)
	}
	row, err := d.DB.OutboxRow(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := plain(ctx, id); err != nil {
		return nil, err
	}
	d.notify(row.Account, serviceOf(row.Kind))
	return nil, nil
}
