package imapd_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// fillFolder stores n small messages in INBOX through the store API, with
// their full-text index rows, as the mail engine would.
func fillFolder(b testing.TB, db *store.DB, n int) {
	b.Helper()
	ctx := context.Background()
	err := db.Write(ctx, func(tx *store.Tx) error {
		fid, err := tx.UpsertMailFolder(ctx, "work", "INBOX", "/", "")
		if err != nil {
			return err
		}
		for i := 0; i < n; i++ {
			word := fmt.Sprintf("word%d", i%100)
			raw := message(fmt.Sprintf("m%d@x", i), "subject "+word, strings.Repeat("lorem ipsum dolor sit amet ", 40)+word)
			bid, err := tx.InsertMailBody(ctx, "work", fmt.Sprintf("m%d@x", i), int64(len(raw)), strings.NewReader(raw))
			if err != nil {
				return err
			}
			if err := tx.IndexMailBody(ctx, bid, "subject "+word, "alice@example.com", "bob@example.com", strings.Repeat("lorem ipsum dolor sit amet ", 40)+word); err != nil {
				return err
			}
			if _, err := tx.InsertMailMessage(ctx, store.MailMessage{FolderID: fid, UID: uint32(i + 1), BodyID: bid, MessageID: fmt.Sprintf("m%d@x", i),
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

// BenchmarkEnvelopePageAndTextSearch measures, over a 10,000-message
// folder, a FETCH of 50 envelopes (a client's message list page) and a
// SEARCH TEXT of a word 100 messages have (issue 15's goals: 20 ms and
// 50 ms).
func BenchmarkEnvelopePageAndTextSearch(b *testing.B) {
	db, err := store.Open(context.Background(), b.TempDir()+"/holdover.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(context.Background(), []string{"work"})
	fillFolder(b, db, 10000)
	c := login(b, startEndpoint(b, db, 0))
	if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		b.Fatal(err)
	}
	b.Run("SELECT", func(b *testing.B) {
		for range b.N {
			if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FETCH 50 envelopes", func(b *testing.B) {
		var page imap.UIDSet
		page.AddRange(9951, 10000)
		for range b.N {
			msgs, err := c.Fetch(page, &imap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true}).Collect()
			if err != nil || len(msgs) != 50 {
				b.Fatalf("%d %v", len(msgs), err)
			}
		}
	})
	b.Run("SEARCH TEXT", func(b *testing.B) {
		for range b.N {
			data, err := c.UIDSearch(&imap.SearchCriteria{Text: []string{"word42"}}, nil).Wait()
			if err != nil || len(data.AllUIDs()) != 100 {
				b.Fatalf("%v %v", data, err)
			}
		}
	})
}

// BenchmarkNoop measures what a selected session pays to stay live over
// a 10,000-message folder: a NOOP while nothing changed (one read of the
// folder's change counters, never the folder), and a NOOP after another
// session's STORE changed one message's flags (that row only).
func BenchmarkNoop(b *testing.B) {
	db, err := store.Open(context.Background(), b.TempDir()+"/holdover.db")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(context.Background(), []string{"work"})
	fillFolder(b, db, 10000)
	addr := startEndpointWith(b, imapd.Options{DB: db, Flagger: &outbox.Local{DB: db}, NoChange: outbox.ErrNoChange})
	c, other := login(b, addr), login(b, addr)
	for _, s := range []*imapclient.Client{c, other} {
		if _, err := s.Select("INBOX", nil).Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("unchanged folder", func(b *testing.B) {
		for range b.N {
			if err := c.Noop().Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("after one flag change", func(b *testing.B) {
		ops := []imap.StoreFlagsOp{imap.StoreFlagsAdd, imap.StoreFlagsDel}
		for i := range b.N {
			b.StopTimer()
			err := other.Store(imap.UIDSetNum(imap.UID(1+i%10000)), &imap.StoreFlags{Op: ops[(i/10000)%2], Silent: true, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Close()
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := c.Noop().Wait(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
