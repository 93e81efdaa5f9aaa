package store

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// A local IMAP session holds one LocalMail per message of its folder:
// 10,000 messages with typical headers cost under 2 MiB of heap (a view
// of MailMessage rows cost 5.9 MiB), and the messages' common flag lists
// are shared, not copied per message.
func TestALocalMailViewStaysSmall(t *testing.T) {
	ctx := context.Background()
	db, _ := openTest(t)
	db.EnsureAccounts(ctx, []string{"a"})
	var folder int64
	err := db.Write(ctx, func(tx *Tx) error {
		var err error
		if folder, err = tx.UpsertMailFolder(ctx, "a", "INBOX", "/", ""); err != nil {
			return err
		}
		bid, err := tx.InsertMailBody(ctx, "a", "x", 5, strings.NewReader("hello"))
		if err != nil {
			return err
		}
		for i := 0; i < 10000; i++ {
			flags := []string{`\Seen`}
			if i%10 == 0 {
				flags = []string{`\Seen`, `\Flagged`}
			}
			_, err := tx.InsertMailMessage(ctx, MailMessage{FolderID: folder, UID: uint32(i + 1), BodyID: bid,
				MessageID: "<a-fairly-typical-message-id-1234567890@mail.example.com>",
				Subject:   "Re: the quarterly numbers for the board meeting next week", From: "Alice Example <alice@example.com>",
				To: "Bob <bob@example.com>, Carol <carol@example.com>", Flags: flags, Size: 20000, InternalDate: time.Now()})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	view, err := db.LocalMailMessages(ctx, folder)
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	used := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("%d messages: %d KiB of heap, %d bytes each", len(view), used/1024, used/int64(len(view)))
	if len(view) != 10000 || used > 2<<20 {
		t.Fatalf("a view of %d messages holds %d KiB; want 10000 in under 2 MiB", len(view), used/1024)
	}
	if &view[1].Flags[0] != &view[2].Flags[0] {
		t.Error("two messages with the same flags hold two copies of the list")
	}
	runtime.KeepAlive(view)
}
