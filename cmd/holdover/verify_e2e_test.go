package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdover/holdover/store"
)

// ghostInArchive adds a message row the server does not have, behind the
// engine's back, as a bug would.
func ghostInArchive(t *testing.T, cfgPath string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(filepath.Dir(cfgPath), "data", "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	f, err := db.MailFolderByName(ctx, "work", "Archive")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := db.ListMailMessages(ctx, store.MailFilter{FolderID: f.ID, Limit: 1})
	if err != nil || len(msgs) != 1 {
		t.Fatalf("archive: %v %v", msgs, err)
	}
	ghost := msgs[0]
	ghost.UID = 1 << 30
	if err := db.Write(ctx, func(tx *store.Tx) error { _, err := tx.InsertMailMessage(ctx, ghost); return err }); err != nil {
		t.Fatal(err)
	}
}

func TestMailVerifyReportsAndRepairsADivergence(t *testing.T) {
	_, cfg, _ := mailSetup(t)
	if code, out, stderr := cli(t, "--config", cfg, "sync", "--once"); code != 0 {
		t.Fatalf("sync --once: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr := cli(t, "--config", cfg, "mail", "verify")
	if code != 0 || !strings.Contains(out, "work: mail 6 folders, 4 messages compared: equal to the server") {
		t.Fatalf("verify of a sound mirror: exit %d\n%s%s", code, out, stderr)
	}

	ghostInArchive(t, cfg)
	code, out, stderr = cli(t, "--config", cfg, "mail", "verify")
	if code != exitDiverged || !strings.Contains(out, "Archive: 0 missing from the mirror, 1 in the mirror but not on the server, 0 with other flags") ||
		!strings.Contains(stderr, "--repair") {
		t.Fatalf("verify of a diverged mirror: exit %d\n%s%s", code, out, stderr)
	}
	code, out, stderr = cli(t, "--config", cfg, "mail", "verify", "--repair")
	if code != 0 || !strings.Contains(out, "DIFFERENT from the server in 1 folder(s), repaired") {
		t.Fatalf("verify --repair: exit %d\n%s%s", code, out, stderr)
	}

	// With the daemon running, it does the verification on its own loop.
	env := []string{"HOLDOVER_E2E_PW=" + os.Getenv("HOLDOVER_E2E_PW")}
	p := startDaemon(t, env, "--config", cfg)
	code, out, stderr = runBin(t, env, "--config", cfg, "mail", "verify")
	if code != 0 || !strings.Contains(out, "the running daemon did the verification") || !strings.Contains(out, "equal to the server") {
		t.Fatalf("verify through the daemon: exit %d\n%s%s\n%s", code, out, stderr, p.log())
	}
}
