package filesync

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// Decisions on a file conflict. Both versions are on both sides already
// (the server's under the name, yours as the conflict copy): deciding
// only tidies up, through the folder, and the next local pass queues it.
const (
	TakeLocal  = "local"  // your version replaces the file under its name; the copy goes
	TakeRemote = "remote" // the copy goes; the server's version stays
	TakeBoth   = "both"   // both files stay; the conflict is closed
)

// conflictSide is what a file conflict's metadata says of a side.
type conflictSide struct {
	Path   string `json:"path"`
	SHA256 string `json:"sha256"`
}

// ResolveConflict applies a decision on a file conflict. A copy that
// changed since the conflict was recorded is never deleted: it holds
// work the decision did not see.
func ResolveConflict(ctx context.Context, db *store.DB, local hsync.LocalFolder, c store.Conflict, take string) error {
	if c.Kind != "file" || !c.Open() {
		return fmt.Errorf("conflict %d is not an open file conflict", c.ID)
	}
	var mine, theirs conflictSide
	if json.Unmarshal([]byte(c.LocalMeta), &mine) != nil || json.Unmarshal([]byte(c.RemoteMeta), &theirs) != nil || mine.Path == "" || theirs.Path == "" {
		return fmt.Errorf("conflict %d: its record names no files", c.ID)
	}
	if take != TakeBoth {
		sum, copyView, err := local.Hash(ctx, mine.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return fmt.Errorf("conflict %d: the copy %s is gone already; use --take both to close it", c.ID, mine.Path)
		case err != nil:
			return err
		case sum != mine.SHA256:
			return fmt.Errorf("conflict %d: %s changed since the conflict; decide by hand, then --take both", c.ID, mine.Path)
		}
		if take == TakeLocal {
			cur, err := local.Stat(theirs.Path)
			var expect *hsync.LocalFile
			if err == nil {
				expect = &cur
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			_, _, err = local.Write(ctx, theirs.Path, expect, copyView.ModTime, func(w io.Writer) error {
				r, _, err := local.Open(mine.Path)
				if err != nil {
					return err
				}
				defer r.Close()
				_, err = io.Copy(w, r)
				return err
			})
			if err != nil {
				return fmt.Errorf("put your version in place of %s: %w", theirs.Path, err)
			}
		}
		if err := local.Remove(mine.Path, copyView); err != nil {
			return fmt.Errorf("remove the copy %s: %w", mine.Path, err)
		}
	}
	return db.Write(ctx, func(tx *store.Tx) error { return tx.ResolveConflict(ctx, c.ID, take) })
}
