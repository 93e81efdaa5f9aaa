package outbox_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/outbox"
)

const draft = "From: a@example.com\r\nSubject: draft\r\nMessage-ID: <draft@example.com>\r\n\r\nunfinished\r\n"

// What a mail app does through the local IMAP endpoint while the server
// is unreachable: an APPEND (then a flag on the new message), a COPY, an
// EXPUNGE. Each shows at once with a local UID that never changes; once
// the server is back each reaches it once, and a sync pass binds nothing
// twice and downloads nothing.
func TestAppendCopyAndExpungeDuringAnOutageReachTheServerOnce(t *testing.T) {
	e := setup(t, 3)
	ctx := context.Background()
	e.proxy.Down()
	m0, m1 := e.message(t, "m0"), e.message(t, "m1")

	id, err := e.local.Append(ctx, "work", "Drafts", []string{`\Draft`}, time.Time{}, strings.NewReader(draft))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.local.Flag(ctx, id, []string{`\Flagged`}, nil); err != nil {
		t.Fatal(err)
	}
	copyID, err := e.local.Copy(ctx, m0.ID, "Archive")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.local.Expunge(ctx, m1.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.local.Expunge(ctx, m1.ID); !errors.Is(err, outbox.ErrNoChange) {
		t.Fatalf("expunging twice: %v, want ErrNoChange", err)
	}
	localUID := func(id int64) uint32 {
		m, err := e.db.MailMessageByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return m.LocalUID
	}
	uids := map[int64]uint32{id: localUID(id), copyID: localUID(copyID), m0.ID: localUID(m0.ID)}
	if got := e.mirrorIDs(t, "Drafts"); !slices.Equal(got, []string{"draft@example.com"}) {
		t.Fatalf("Drafts at once: %v", got)
	}
	if got := e.mirrorIDs(t, "Archive"); !slices.Equal(got, []string{"ob-0@example.com"}) {
		t.Fatalf("Archive at once: %v", got)
	}
	if got := e.mirrorIDs(t, "INBOX"); !slices.Equal(got, []string{"ob-0@example.com", "ob-2@example.com"}) {
		t.Fatalf("INBOX at once: %v", got)
	}
	if got := e.mirrorIDs(t, "Trash"); len(got) != 0 {
		t.Fatalf("an EXPUNGE moved to Trash: %v", got)
	}

	e.start(t)
	waitFor(t, "outage opened", 10*time.Second, func() bool {
		os, _ := e.db.Outages(ctx, 0)
		return len(os) == 1 && os[0].Open()
	})
	e.proxy.Up()
	e.worker.Wake()
	waitFor(t, "queue drained", 15*time.Second, func() bool { return outboxStates(t, e.db)[store.OutboxDone] == 4 })
	e.stop()

	if f := e.serverFlags(t, "Drafts", "draft@example.com"); !has(f, `\Draft`) || !has(f, `\Flagged`) {
		t.Errorf("the appended draft on the server: %v", f)
	}
	if e.serverFlags(t, "Archive", "ob-0@example.com") == nil || e.serverFlags(t, "INBOX", "ob-0@example.com") == nil {
		t.Error("the copy is not in Archive, or the original left INBOX")
	}
	if e.serverFlags(t, "INBOX", "ob-1@example.com") != nil || e.serverFlags(t, "Trash", "ob-1@example.com") != nil {
		t.Error("the expunged message is still on the server (or in Trash)")
	}
	for i := 0; i < 2; i++ {
		if st := e.sync(t); st.Downloaded != 0 || st.New != 0 {
			t.Errorf("sync pass %d: %d downloaded, %d new rows", i+1, st.Downloaded, st.New)
		}
	}
	for _, f := range []string{"Drafts", "Archive", "INBOX"} {
		if got, want := e.mirrorIDs(t, f), e.serverIDs(t, f); !sameIDs(got, want) {
			t.Errorf("%s: mirror %v, server %v", f, got, want)
		}
	}
	for id, uid := range uids {
		if got := localUID(id); got != uid {
			t.Errorf("message %d: local UID %d became %d", id, uid, got)
		}
	}
}

// sameIDs compares Message-IDs as the mirror stores them (bare) with the
// server's (in angle brackets or not).
func sameIDs(mirror, server []string) bool {
	if len(mirror) != len(server) {
		return false
	}
	for i := range mirror {
		if "<"+mirror[i]+">" != server[i] && mirror[i] != server[i] {
			return false
		}
	}
	return true
}

// An append whose outcome was not recorded (the process died after the
// server took it) is not appended again: the retry finds the server's
// copy by Message-ID and binds it to the same local row.
func TestAnAppendRetriedAfterACrashIsNotDoubled(t *testing.T) {
	e := setup(t, 0)
	ctx := context.Background()
	id, err := e.local.Append(ctx, "work", "Drafts", nil, time.Time{}, strings.NewReader(draft))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := e.db.ListOutbox(ctx, store.OutboxFilter{Account: "work"})
	if err != nil || len(rows) != 1 {
		t.Fatalf("outbox: %v %v", rows, err)
	}
	exec := &outbox.IMAPExecutor{DB: e.db, Account: "work", Dial: func(ctx context.Context) (hsync.MailWriter, error) {
		return imapconn.Dial(ctx, imapconn.Config{Host: e.d.Host, Port: e.d.Port, TLS: "none", Username: e.d.User,
			Password: func(context.Context) (string, error) { return e.d.Password, nil }})
	}}
	defer exec.Close()
	row := rows[0]
	row.Attempts = 1
	if _, err := exec.Execute(ctx, row); err != nil { // its outcome is lost
		t.Fatal(err)
	}
	row.Attempts = 2
	apply, err := exec.Execute(ctx, row)
	if err != nil || apply == nil {
		t.Fatalf("retry: %v (apply %v)", err, apply != nil)
	}
	if err := e.db.Write(ctx, apply); err != nil {
		t.Fatal(err)
	}
	if got := e.serverIDs(t, "Drafts"); len(got) != 1 {
		t.Fatalf("Drafts on the server: %v, want one copy", got)
	}
	m, err := e.db.MailMessageByID(ctx, id)
	if err != nil || m.RemoteFolderID == 0 || m.RemoteUID == 0 {
		t.Fatalf("the local row is not bound: %+v %v", m, err)
	}
	if st := e.sync(t); st.Downloaded != 0 || st.New != 0 {
		t.Errorf("sync: %d downloaded, %d new", st.Downloaded, st.New)
	}
}
