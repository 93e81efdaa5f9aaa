package store

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// A service an older holdover stored as waiting for a sign-in (degraded,
// "needs-login: " before its error) is needs-login after the migration
// that made it a state of its own; other rows keep their state and error.
func TestMigrationMakesNeedsLoginAStateOfItsOwn(t *testing.T) {
	ctx := context.Background()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	version := 0
	for _, m := range ms {
		if strings.HasSuffix(m.name, "_health_needs_login.sql") {
			version = m.version
		}
	}
	if version == 0 {
		t.Fatal("no needs-login migration")
	}
	path := filepath.Join(t.TempDir(), "holdover.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	db.EnsureAccounts(ctx, []string{"a"})
	// Back to the schema before it: the old CHECK, the old rows.
	for _, q := range []string{
		`DROP TABLE provider_health`,
		`CREATE TABLE provider_health (
		    account TEXT NOT NULL REFERENCES accounts(name) ON UPDATE CASCADE ON DELETE CASCADE,
		    service TEXT NOT NULL CHECK (service IN ('imap', 'smtp', 'caldav', 'webdav')),
		    state TEXT NOT NULL CHECK (state IN ('up', 'degraded', 'down', 'unknown')),
		    since INTEGER NOT NULL, last_error TEXT, last_error_at INTEGER,
		    consecutive_failures INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL,
		    PRIMARY KEY (account, service)) STRICT`,
		`INSERT INTO provider_health VALUES ('a', 'smtp', 'degraded', 1, 'needs-login: oauth2 sign-in: revoked', 1, 0, 1)`,
		`INSERT INTO provider_health VALUES ('a', 'imap', 'degraded', 1, 'permanent: mailbox gone', 1, 2, 1)`,
		`INSERT INTO provider_health VALUES ('a', 'caldav', 'down', 1, 'transient: needs-login: is not a prefix here', 1, 5, 1)`,
		fmt.Sprintf(`PRAGMA user_version = %d`, version-1),
	} {
		if _, err := db.w.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()
	if db, err = Open(ctx, path); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.HealthRows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range rows {
		got[h.Service] = string(h.State) + " / " + h.LastError
	}
	want := map[string]string{
		"smtp":   "needs-login / oauth2 sign-in: revoked",
		"imap":   "degraded / permanent: mailbox gone",
		"caldav": "down / transient: needs-login: is not a prefix here",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("after the migration:\n got %v\nwant %v", got, want)
	}
	if err := db.Write(ctx, func(tx *Tx) error { return tx.SetHealth(ctx, "a", "imap", HealthNeedsLogin, 0, "x") }); err != nil {
		t.Fatalf("the new state is refused: %v", err)
	}
}
