package mailsync_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
)

// A folder of many batches downloads on several connections at once; the
// engine's promises hold as with one: every message stored, each body
// downloaded and stored once even when copies of a message sit in
// batches that different connections fetch, and the resume point only
// covering committed batches.
func TestLargeDownloadRunsOnSeveralConnections(t *testing.T) {
	srv := startServer(t)
	const n = 60
	copies := map[int]bool{7: true, 33: true, 58: true} // copies of message 2
	for i := 0; i < n; i++ {
		id, body := fmt.Sprintf("lane-%d@example.com", i), strings.Repeat(fmt.Sprintf("text of letter %d ", i), 40)
		if copies[i] {
			id, body = "lane-2@example.com", strings.Repeat("text of letter 2 ", 40)
		}
		subject := "lanes"
		srv.appendMsg(t, "INBOX", msg(id, subject, body), t0.Add(time.Duration(i)*time.Minute))
	}
	unique := n - len(copies)

	cases := []struct {
		name      string
		conns     int
		refuse    func(int) error
		wantDials int
	}{
		{name: "three connections", conns: 3, wantDials: 3},
		{name: "one connection", conns: 1, wantDials: 1},
		{name: "server refuses the extra connections", conns: 4, wantDials: 4, refuse: func(n int) error {
			if n > 0 {
				return hsync.Errorf(hsync.Transient, "imap connect", errors.New("too many connections"))
			}
			return nil
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, srv)
			f.eng = f.engineWith(t, mailsync.Options{BatchMessages: 8, Connections: c.conns}, c.refuse)
			st := f.sync(t)
			if st.New != n || st.Downloaded != unique || f.remote.bodies != unique {
				t.Fatalf("stats %+v, %d bodies fetched; want %d new, %d downloaded once each", st, f.remote.bodies, n, unique)
			}
			if f.remote.dials != c.wantDials {
				t.Errorf("%d dials, want %d", f.remote.dials, c.wantDials)
			}
			bodies := countBodies(t, f.db)
			if bodies != unique {
				t.Errorf("%d bodies stored, want %d (copies share one)", bodies, unique)
			}
			f.assertMirror(t)
			if st := f.sync(t); st.New != 0 || st.Downloaded != 0 {
				t.Errorf("second pass: %+v, want nothing new", st)
			}
		})
	}
}

// A connection that fails mid-download stops the download; the batches
// committed before stay, and the next pass fetches only the rest.
func TestLaneFailureKeepsCommittedBatches(t *testing.T) {
	srv := startServer(t)
	const n = 48
	for i := 0; i < n; i++ {
		srv.appendMsg(t, "INBOX", msg(fmt.Sprintf("fail-%d@example.com", i), "x", strings.Repeat("y", 500+i)), t0)
	}
	f := newFixture(t, srv)
	f.eng = f.engineWith(t, mailsync.Options{BatchMessages: 4, Connections: 3}, nil)
	f.remote.failBodies = 25
	if _, err := f.eng.SyncOnce(context.Background()); !errors.Is(err, errInjected) {
		t.Fatalf("sync: %v, want the injected fault", err)
	}
	committed := countMessages(t, f.db)
	if committed == 0 || committed >= n {
		t.Fatalf("%d of %d committed; the fault should land mid-way", committed, n)
	}
	// What is committed is a prefix of the folder, and the resume point
	// covers no gap: a chunk that failed part-way stops the commits there.
	folders, err := f.db.MailFolders(context.Background(), "work")
	if err != nil {
		t.Fatal(err)
	}
	for _, fo := range folders {
		if fo.Name != "INBOX" {
			continue
		}
		uids, err := f.db.MailUIDs(context.Background(), fo.ID)
		if err != nil {
			t.Fatal(err)
		}
		for i, u := range uids {
			if u != uint32(i+1) {
				t.Fatalf("committed UIDs %v are not a prefix of 1..%d", uids, n)
			}
		}
		if fo.SyncedUID > uint32(len(uids)) {
			t.Fatalf("resume point %d past the %d committed messages", fo.SyncedUID, len(uids))
		}
	}
	if rep, err := f.db.Check(context.Background()); err != nil || !rep.OK {
		t.Fatalf("integrity: %v %v", rep.Integrity, err)
	}
	f.eng = f.engineWith(t, mailsync.Options{BatchMessages: 4, Connections: 3}, nil)
	f.sync(t)
	if f.remote.bodies != n-committed {
		t.Fatalf("resume fetched %d bodies, want %d", f.remote.bodies, n-committed)
	}
	f.assertMirror(t)
}

func countBodies(t *testing.T, db *store.DB) int {
	t.Helper()
	rep, err := db.Check(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rep.Tables["mail_bodies"]
}

// A chunk that fails while a later one is ready and waiting for the
// writer: the later one is not committed, so the resume point never
// covers the failed chunk's messages (the incremental rule counts on
// the stored set below it being complete).
func TestFailedChunkStopsTheCommitsBehindIt(t *testing.T) {
	srv := startServer(t)
	const n = 12
	for i := 0; i < n; i++ {
		srv.appendMsg(t, "INBOX", msg(fmt.Sprintf("gap-%d@example.com", i), "x", strings.Repeat("z", 300+i)), t0)
	}
	for round := 0; round < 5; round++ {
		f := newFixture(t, srv)
		f.eng = f.engineWith(t, mailsync.Options{BatchMessages: 4, Connections: 3}, nil)
		// Chunk 1 (UIDs 5-8) fails late, when chunk 2 is long prepared.
		f.remote.beforeBodies = func(uids []uint32) error {
			if slices.Contains(uids, 5) {
				time.Sleep(300 * time.Millisecond)
				return errInjected
			}
			return nil
		}
		if _, err := f.eng.SyncOnce(context.Background()); !errors.Is(err, errInjected) {
			t.Fatalf("sync: %v, want the injected fault", err)
		}
		folders, err := f.db.MailFolders(context.Background(), "work")
		if err != nil {
			t.Fatal(err)
		}
		for _, fo := range folders {
			if fo.Name != "INBOX" {
				continue
			}
			uids, err := f.db.MailUIDs(context.Background(), fo.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(uids, []uint32{1, 2, 3, 4}) || fo.SyncedUID > 4 {
				t.Fatalf("round %d: committed UIDs %v, resume point %d; want 1-4 and at most 4", round, uids, fo.SyncedUID)
			}
		}
	}
}
