package calsync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// Sides of a conflict a person can take.
const (
	TakeLocal  = "local"
	TakeRemote = "remote"
)

// Resolve decides an open calendar conflict. Taking the server's side
// ends the waiting action (the server's version is already the local
// one). Taking the local side puts the local version back and replays it
// once, conditional on the server's version the person saw.
func (l *Local) Resolve(ctx context.Context, conflictID int64, take string) error {
	if take != TakeLocal && take != TakeRemote {
		return fmt.Errorf("take %q: want %s or %s", take, TakeLocal, TakeRemote)
	}
	c, err := l.DB.ConflictByID(ctx, conflictID)
	if err != nil {
		return err
	}
	if c.Kind != "calendar" {
		return fmt.Errorf("conflict %d is a %s conflict, not a calendar one", conflictID, c.Kind)
	}
	if !c.Open() {
		return fmt.Errorf("conflict %d was resolved already (%s): %w", conflictID, c.Resolution, store.ErrState)
	}
	id, err := strconv.ParseInt(strings.TrimPrefix(c.TargetKey, "cal:"), 10, 64)
	if err != nil {
		return fmt.Errorf("conflict %d: bad target %q", conflictID, c.TargetKey)
	}
	var lm ConflictMeta
	if err := json.Unmarshal([]byte(c.LocalMeta), &lm); err != nil {
		return fmt.Errorf("conflict %d: %w", conflictID, err)
	}
	obj, err := l.DB.CalObjectByID(ctx, id)
	exists := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		if err := tx.ResolveConflict(ctx, conflictID, take); err != nil {
			return err
		}
		if take == TakeRemote {
			if c.OutboxID == 0 {
				return nil
			}
			return tx.FinishOutbox(ctx, c.OutboxID, store.OutboxCancelled, "conflict resolved: the server's version kept", time.Time{})
		}
		return l.takeLocal(ctx, tx, c, lm, obj, exists)
	})
	if err != nil {
		return err
	}
	l.notify(c.Account)
	return nil
}

// takeLocal puts the local side of c back and queues it.
func (l *Local) takeLocal(ctx context.Context, tx *store.Tx, c store.Conflict, lm ConflictMeta, obj store.CalObject, exists bool) error {
	requeue := func(id int64) error {
		if c.OutboxID != 0 && exists {
			return tx.RequeueOutbox(ctx, c.OutboxID)
		}
		if c.OutboxID != 0 {
			if err := tx.FinishOutbox(ctx, c.OutboxID, store.OutboxCancelled, "conflict resolved: the local version is sent again", time.Time{}); err != nil {
				return err
			}
		}
		_, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: c.Account, Kind: outbox.KindCalPut, TargetKey: calKey(id),
			Payload: encodeJSON(PutPayload{Object: id, Href: lm.Href})})
		return err
	}
	switch {
	case c.LocalVersion == nil: // the local side deleted it
		if !exists {
			return nil // the server deleted it since: nothing to do
		}
		if err := tx.MarkCalDeleted(ctx, obj.ID); err != nil {
			return err
		}
		if c.OutboxID != 0 {
			return tx.RequeueOutbox(ctx, c.OutboxID)
		}
		_, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: c.Account, Kind: outbox.KindCalDelete, TargetKey: calKey(obj.ID),
			Payload: encodeJSON(DeletePayload{Object: obj.ID, Href: obj.Href})})
		return err
	case exists:
		if err := tx.SetLocalObject(ctx, obj.ID, c.LocalVersion, Fields(c.LocalVersion)); err != nil {
			return err
		}
		return requeue(obj.ID)
	default: // the server deleted it: create it again, at its old href
		id, err := tx.InsertLocalObject(ctx, lm.Calendar, lm.Href, c.LocalVersion, Fields(c.LocalVersion))
		if err != nil {
			return err
		}
		return requeue(id)
	}
}
