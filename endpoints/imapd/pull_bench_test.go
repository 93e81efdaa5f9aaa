package imapd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/store"
)

// BenchmarkMessageByMessagePull is a full pull as mbsync makes it: one
// UID FETCH of FLAGS, INTERNALDATE and BODY.PEEK[] per message, over a
// 3,000-message folder of 8 kB messages, the bench mailbox's average
// (bench/imapd.sh measures mbsync itself).
func BenchmarkMessageByMessagePull(b *testing.B) {
	db, err := store.Open(context.Background(), b.TempDir()+"/holdover.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(context.Background(), []string{"work"})
	const n = 3000
	fillBig(b, db, n)
	c := login(b, startEndpoint(b, db, 0))
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	opts := &imap.FetchOptions{Flags: true, InternalDate: true, BodySection: []*imap.FetchItemBodySection{{Peek: true}}}
	b.ResetTimer()
	for range b.N {
		for uid := imap.UID(1); uid <= n; uid++ {
			msgs, err := c.Fetch(imap.UIDSetNum(uid), opts).Collect()
			if err != nil || len(msgs) != 1 {
				b.Fatalf("UID %d: %d messages, %v", uid, len(msgs), err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/msg")
}

// fillBig stores n messages of about 8 kB in INBOX.
func fillBig(b *testing.B, db *store.DB, n int) {
	b.Helper()
	ctx := context.Background()
	err := db.Write(ctx, func(tx *store.Tx) error {
		fid, err := tx.UpsertMailFolder(ctx, "work", "INBOX", "/", "")
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			id := fmt.Sprintf("m%d@x", i)
			raw := message(id, fmt.Sprintf("subject %d", i), strings.Repeat(fmt.Sprintf("line %d of a longer message body\r\n", i), 240))
			bid, err := tx.InsertMailBody(ctx, "work", id, int64(len(raw)), strings.NewReader(raw))
			if err != nil {
				return err
			}
			if _, err := tx.InsertMailMessage(ctx, store.MailMessage{FolderID: fid, UID: uint32(i + 1), BodyID: bid, MessageID: id,
				Size: int64(len(raw)), InternalDate: t0.Add(time.Duration(i) * time.Minute)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
