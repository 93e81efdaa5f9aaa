package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// BenchmarkMailCommit stores 10,000 messages the way an initial mail sync
// commits them (body, index row, message row; batches of 200), and
// reports the writer's cost per message: the part of a sync that cannot
// run in parallel.
func BenchmarkMailCommit(b *testing.B) {
	ctx := context.Background()
	const n, batch = 10000, 200
	r := rand.New(rand.NewPCG(1, 2))
	// A vocabulary of 5,000 made-up words, the size of a mailbox's.
	words := make([]string, 5000)
	for i := range words {
		w := make([]byte, 3+r.IntN(8))
		for j := range w {
			w[j] = byte('a' + r.IntN(26))
		}
		words[i] = string(w)
	}
	text := func(nw int) string {
		var s strings.Builder
		for range nw {
			s.WriteString(words[r.IntN(len(words))])
			s.WriteByte(' ')
		}
		return s.String()
	}
	type msg struct {
		id, subject, from, to, text string
		raw                         []byte
		sum                         []byte
	}
	msgs := make([]msg, n)
	for i := range msgs {
		m := msg{id: fmt.Sprintf("%x@example.com", r.Uint64()), subject: text(6), from: "Alice <alice@example.com>", to: "bob@example.com", text: text(300)}
		m.raw = []byte("Subject: " + m.subject + "\r\n\r\n" + m.text)
		s := sha256.Sum256(m.raw)
		m.sum = s[:]
		msgs[i] = m
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db, _ := openTest(b)
		db.EnsureAccounts(ctx, []string{"work"})
		var folder int64
		db.Write(ctx, func(tx *Tx) error {
			var err error
			folder, err = tx.UpsertMailFolder(ctx, "work", "INBOX", "/", "")
			return err
		})
		b.StartTimer()
		for start := 0; start < n; start += batch {
			err := db.Write(ctx, func(tx *Tx) error {
				// As the mail engine does: the index rows last (see
				// IndexMailBody).
				ids := make([]int64, batch)
				for i := start; i < start+batch; i++ {
					m := msgs[i]
					id, err := tx.InsertMailBodySum(ctx, "work", m.id, int64(len(m.raw)), m.sum, bytes.NewReader(m.raw))
					if err != nil {
						return err
					}
					ids[i-start] = id
					if _, err := tx.InsertMailMessage(ctx, MailMessage{FolderID: folder, UID: uint32(i + 1), BodyID: id, MessageID: m.id, Size: int64(len(m.raw)),
						InternalDate: time.Unix(int64(1e9+i), 0), Subject: m.subject, From: m.from, To: m.to}); err != nil {
						return err
					}
				}
				for i := start; i < start+batch; i++ {
					m := msgs[i]
					if err := tx.IndexMailBody(ctx, ids[i-start], m.subject, m.from, m.to, m.text); err != nil {
						return err
					}
				}
				return tx.SetMailFolderSyncedUID(ctx, folder, uint32(start+batch))
			})
			if err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		db.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/msg")
}
