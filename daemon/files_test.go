package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/store"
)

func TestFilesStatusListsUploadsTheServerRefused(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(ctx, []string{"work"})
	var id int64
	db.Write(ctx, func(tx *store.Tx) error {
		id, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: "file.put", TargetKey: "file:big.iso", Payload: []byte(`{"path":"big.iso"}`)})
		return err
	})
	db.Write(ctx, func(tx *store.Tx) error {
		return tx.FinishOutbox(ctx, id, store.OutboxDead, "permanent: 413 Request Entity Too Large", time.Time{})
	})
	cfg := &config.Config{Accounts: []config.Account{{Name: "work", Files: &config.Files{WebDAV: &config.DAV{URL: "https://dav.example.com/"}, LocalDir: "/srv/files"}}}}
	st, err := CollectFilesStatus(ctx, cfg, db, "")
	if err != nil || len(st) != 1 {
		t.Fatal(st, err)
	}
	if len(st[0].Problems) != 1 || st[0].Problems[0].Path != "big.iso" || !strings.Contains(st[0].Problems[0].Problem, "413") {
		t.Fatalf("problems %+v: the refused upload must be listed", st[0].Problems)
	}
}
