package outbox_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
	"github.com/holdover/holdover/sync/outbox"
)

func memEnv(t *testing.T, cfg imapconn.Config) (*store.DB, *outbox.Local, *outbox.Worker) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	db.EnsureAccounts(ctx, []string{"work"})
	eng := mailsync.New(mailsync.Options{Account: "work", DB: db, SpoolDir: t.TempDir(),
		Dial: func(ctx context.Context) (hsync.MailRemote, error) { return imapconn.Dial(ctx, cfg) }})
	defer eng.Close()
	if _, err := eng.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	w := outbox.New(outbox.Worker{DB: db, Account: "work", Service: "imap", Kinds: outbox.ServiceKinds["imap"],
		Exec: &outbox.IMAPExecutor{DB: db, Account: "work", Dial: func(ctx context.Context) (hsync.MailWriter, error) { return imapconn.Dial(ctx, cfg) }}})
	return db, &outbox.Local{DB: db, SpoolDir: t.TempDir()}, w
}

func runUntilDone(t *testing.T, db *store.DB, w *outbox.Worker, want int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "replay", 10*time.Second, func() bool {
		c := outboxStates(t, db)
		if c[store.OutboxDead]+c[store.OutboxConflict] > 0 {
			rows, _ := db.ListOutbox(context.Background(), store.OutboxFilter{})
			t.Fatalf("actions failed: %+v", rows)
		}
		return c[store.OutboxDone] == want
	})
}

// Without MOVE the move is COPY + STORE \Deleted + UID EXPUNGE of that
// UID only (UIDPLUS); without a Trash folder a delete is \Deleted + UID
// EXPUNGE. The other messages stay.
func TestMoveWithoutMOVEAndDeleteWithoutTrash(t *testing.T) {
	srv := testenv.StartIMAPMem(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, nil)
	for i := 0; i < 4; i++ {
		srv.Append(t, "INBOX", []byte(fmt.Sprintf("From: a@example.com\r\nSubject: m%d\r\nMessage-ID: <mem-%d@example.com>\r\n\r\nbody\r\n", i, i)))
	}
	u := srv.User
	cfg := imapconn.Config{Host: srv.Host, Port: srv.Port, TLS: "none", Username: "me", Password: func(context.Context) (string, error) { return "pw", nil }}
	db, local, w := memEnv(t, cfg)
	ctx := context.Background()
	msgs, _ := db.ListMailMessages(ctx, store.MailFilter{Folder: "INBOX"})
	if len(msgs) != 4 {
		t.Fatalf("%d messages mirrored", len(msgs))
	}
	if _, err := local.Move(ctx, msgs[0].ID, "Archive"); err != nil {
		t.Fatal(err)
	}
	if _, err := local.Delete(ctx, msgs[1].ID); err != nil {
		t.Fatal(err)
	}
	runUntilDone(t, db, w, 2)
	inbox, _ := u.Status("INBOX", &imap.StatusOptions{NumMessages: true})
	archive, _ := u.Status("Archive", &imap.StatusOptions{NumMessages: true})
	if *inbox.NumMessages != 2 || *archive.NumMessages != 1 {
		t.Fatalf("server: INBOX %d, Archive %d; want 2 and 1", *inbox.NumMessages, *archive.NumMessages)
	}
	if got, _ := db.MailMessageByID(ctx, msgs[0].ID); got.Folder != "Archive" || got.RemoteUID == 0 {
		t.Fatalf("moved message locally = %+v", got)
	}
}
