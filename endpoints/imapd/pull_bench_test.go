package imapd_test

import (
	"context"
	"testing"

	"github.com/emersion/go-imap/v2"

	"github.com/holdover/holdover/store"
)

// BenchmarkMessageByMessagePull is a full pull as mbsync makes it: one
// UID FETCH of FLAGS, INTERNALDATE and BODY.PEEK[] per message, over a
// 3,000-message folder (bench/imapd.sh measures mbsync itself).
func BenchmarkMessageByMessagePull(b *testing.B) {
	db, err := store.Open(context.Background(), b.TempDir()+"/holdover.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(context.Background(), []string{"work"})
	const n = 3000
	fillFolder(b, db, n)
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
