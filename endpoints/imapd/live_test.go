package imapd_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// watcher is a client session that records the unilateral responses it
// gets (EXISTS, EXPUNGE, FETCH FLAGS), in the order the server sent them.
type watcher struct {
	*imapclient.Client
	mu     sync.Mutex
	events []string
	wake   chan struct{}
}

func watch(t testing.TB, addr string) *watcher {
	t.Helper()
	w := &watcher{wake: make(chan struct{}, 1)}
	c, err := imapclient.DialInsecure(addr, &imapclient.Options{UnilateralDataHandler: &imapclient.UnilateralDataHandler{
		Expunge: func(seq uint32) { w.add(fmt.Sprintf("EXPUNGE %d", seq)) },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				w.add(fmt.Sprintf("EXISTS %d", *d.NumMessages))
			}
		},
		Fetch: func(msg *imapclient.FetchMessageData) {
			buf, err := msg.Collect()
			if err != nil {
				w.add("FETCH error " + err.Error())
				return
			}
			w.add(fmt.Sprintf("FETCH %d UID %d %v", buf.SeqNum, buf.UID, sortedFlags(buf.Flags)))
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(localUser, localPass).Wait(); err != nil {
		t.Fatalf("login: %v", err)
	}
	w.Client = c
	return w
}

func (w *watcher) add(e string) {
	w.mu.Lock()
	w.events = append(w.events, e)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// take returns the events so far and forgets them.
func (w *watcher) take() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := w.events
	w.events = nil
	return out
}

// await waits up to limit for the events recorded to be want, and
// returns how long they took.
func (w *watcher) await(t *testing.T, limit time.Duration, want ...string) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := time.After(limit)
	var got []string
	for {
		w.mu.Lock()
		got = slices.Clone(w.events)
		w.mu.Unlock()
		if len(got) >= len(want) {
			break
		}
		select {
		case <-w.wake:
		case <-deadline:
			t.Fatalf("after %v: events %q, want %q", limit, got, want)
		}
	}
	got = w.take() // and any that came meanwhile: one too many fails
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
	return time.Since(start)
}

// quiet checks that no update came, giving the client's handlers a
// moment: imapclient hands a unilateral FETCH to its handler in a
// goroutine of its own, so it may be recorded after the command ends.
func (w *watcher) quiet(t *testing.T, what string) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	if ev := w.take(); len(ev) != 0 {
		t.Fatalf("updates %s: %q", what, ev)
	}
}

// idle starts IDLE on w and returns its stop.
func (w *watcher) idle(t *testing.T) func() {
	t.Helper()
	cmd, err := w.Idle()
	if err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := cmd.Close(); err != nil {
			t.Fatalf("IDLE done: %v", err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("IDLE: %v", err)
		}
	}
}

// localStore is a store with n messages in INBOX (no server behind it)
// and an endpoint with writes on.
func localStore(t *testing.T, n int) (*store.DB, string) {
	t.Helper()
	db := openStore(t)
	fillFolder(t, db, n)
	addr := startEndpointWith(t, imapd.Options{DB: db, Flagger: &outbox.Local{DB: db}, NoChange: outbox.ErrNoChange})
	return db, addr
}

// otherProcess opens the same database file again, as the CLI does from
// its own process: its commits wake nobody in this one.
func otherProcess(t *testing.T, db *store.DB) *outbox.Local {
	t.Helper()
	other, err := store.Open(context.Background(), db.Path())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { other.Close() })
	return &outbox.Local{DB: other}
}

func messageIDOf(t *testing.T, db *store.DB, folder string, localUID uint32) int64 {
	t.Helper()
	f, err := db.MailFolderByName(context.Background(), "work", folder)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := db.LocalMailMessages(context.Background(), f.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.LocalUID == localUID {
			return m.ID
		}
	}
	t.Fatalf("no message with local UID %d in %s", localUID, folder)
	return 0
}

func TestIdleSeesSyncedMailLocalFlagsAndRemoteExpungesWithoutReselecting(t *testing.T) {
	m := newMirror(t)
	for i := 1; i <= 3; i++ {
		m.appendMsg(t, "INBOX", message(fmt.Sprintf("m%d@x", i), "hello", "body"), t0.Add(time.Duration(i)*time.Hour))
	}
	m.sync(t)
	w := watch(t, startEndpointWith(t, imapd.Options{DB: m.db, Flagger: &outbox.Local{DB: m.db}, NoChange: outbox.ErrNoChange}))
	if _, err := w.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	stop := w.idle(t)

	t.Run("mail delivered to Dovecot and synced: EXISTS", func(t *testing.T) {
		m.appendMsg(t, "INBOX", message("m4@x", "new", "new mail"), t0.Add(4*time.Hour))
		m.sync(t)
		if d := w.await(t, 5*time.Second, "EXISTS 4"); d > time.Second {
			t.Errorf("EXISTS %v after the sync pass committed, want < 1s", d)
		}
	})
	t.Run("a flag set by the CLI's local change: FETCH FLAGS", func(t *testing.T) {
		if _, err := (&outbox.Local{DB: m.db}).Flag(context.Background(), messageIDOf(t, m.db, "INBOX", 2), []string{`\Flagged`}, nil); err != nil {
			t.Fatal(err)
		}
		if d := w.await(t, 5*time.Second, `FETCH 2 UID 2 [\Flagged]`); d > time.Second {
			t.Errorf("FETCH %v after the commit, want < 1s", d)
		}
	})
	t.Run("a message expunged on Dovecot and synced: EXPUNGE", func(t *testing.T) {
		if _, err := m.c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
		if err := m.c.Store(imap.SeqSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
		if err := m.c.Expunge().Close(); err != nil {
			t.Fatal(err)
		}
		m.sync(t)
		if d := w.await(t, 5*time.Second, "EXPUNGE 1"); d > time.Second {
			t.Errorf("EXPUNGE %v after the sync pass, want < 1s", d)
		}
	})
	stop()

	t.Run("the session goes on with the view it was told about", func(t *testing.T) {
		var all imap.SeqSet
		all.AddRange(1, 0)
		msgs, err := w.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true, Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, msg := range msgs {
			got = append(got, fmt.Sprintf("%d:%d:%s:%v", msg.SeqNum, msg.UID, msg.Envelope.MessageID, sortedFlags(msg.Flags)))
		}
		want := []string{`1:2:m2@x:[\Flagged]`, "2:3:m3@x:[]", "3:4:m4@x:[]"}
		if !slices.Equal(got, want) {
			t.Fatalf("FETCH 1:*\n %q\nwant %q", got, want)
		}
		w.quiet(t, "after FETCH")
	})
}

func TestAnotherSessionsStoreShowsInTheFirst(t *testing.T) {
	_, addr := localStore(t, 3)
	a, b := watch(t, addr), login(t, addr)
	for _, c := range []*imapclient.Client{a.Client, b} {
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			t.Fatal(err)
		}
	}
	store := func(uid imap.UID, op imap.StoreFlagsOp, f imap.Flag) {
		t.Helper()
		if err := b.Store(imap.UIDSetNum(uid), &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{f}}, nil).Close(); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("at the next NOOP", func(t *testing.T) {
		store(2, imap.StoreFlagsAdd, imap.FlagAnswered)
		if err := a.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		a.await(t, time.Second, `FETCH 2 UID 2 [\Answered]`)
		if err := a.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		a.quiet(t, "after a second NOOP")
	})
	t.Run("while idling, at once", func(t *testing.T) {
		stop := a.idle(t)
		defer stop()
		store(3, imap.StoreFlagsAdd, imap.FlagSeen)
		if d := a.await(t, 5*time.Second, `FETCH 3 UID 3 [\Seen]`); d > time.Second {
			t.Errorf("FETCH %v after the other session's STORE, want < 1s", d)
		}
	})
	t.Run("a session's own STORE is not echoed again", func(t *testing.T) {
		msgs, err := a.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
		if err != nil || len(msgs) != 1 {
			t.Fatalf("STORE: %v %v", msgs, err)
		}
		if err := a.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		a.quiet(t, "after the session's own STORE")
	})
}

func TestFetchBySequenceNumberDuringPendingExpungesStaysConsistent(t *testing.T) {
	db, addr := localStore(t, 5)
	c := watch(t, addr)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	// The CLI, from its own process, deletes messages 2 and 4 (no Trash:
	// they are hidden at once, the deletes queued).
	cli := otherProcess(t, db)
	for _, uid := range []uint32{2, 4} {
		if _, err := cli.Delete(context.Background(), messageIDOf(t, db, "INBOX", uid)); err != nil {
			t.Fatal(err)
		}
	}
	var all imap.SeqSet
	all.AddRange(1, 5)

	t.Run("FETCH by sequence number: every number still names its message, no EXPUNGE", func(t *testing.T) {
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, msg := range msgs {
			got = append(got, fmt.Sprintf("%d:%d:%s", msg.SeqNum, msg.UID, msg.Envelope.MessageID))
		}
		want := []string{"1:1:m0@x", "2:2:m1@x", "3:3:m2@x", "4:4:m3@x", "5:5:m4@x"}
		if !slices.Equal(got, want) {
			t.Fatalf("FETCH 1:5\n %q\nwant %q", got, want)
		}
		c.quiet(t, "during FETCH")
	})
	t.Run("STORE by sequence number passes the gone ones by, no EXPUNGE", func(t *testing.T) {
		msgs, err := c.Store(all, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagSeen}}, nil).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []uint32
		for _, msg := range msgs {
			got = append(got, msg.SeqNum)
		}
		if !slices.Equal(got, []uint32{1, 3, 5}) {
			t.Fatalf("STORE answered %v", got)
		}
		c.quiet(t, "during STORE")
	})
	t.Run("SEARCH by sequence number: no EXPUNGE", func(t *testing.T) {
		data, err := c.Search(&imap.SearchCriteria{}, nil).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if got := data.AllSeqNums(); !slices.Equal(got, []uint32{1, 3, 5}) {
			t.Fatalf("SEARCH ALL: %v", got)
		}
		c.quiet(t, "during SEARCH")
	})
	t.Run("NOOP sends the EXPUNGEs, then sequence numbers close up", func(t *testing.T) {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		if got := c.take(); !slices.Equal(got, []string{"EXPUNGE 4", "EXPUNGE 2"}) {
			t.Fatalf("after NOOP: %q", got)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(1, 2, 3), &imap.FetchOptions{UID: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, msg := range msgs {
			got = append(got, fmt.Sprintf("%d:%d", msg.SeqNum, msg.UID))
		}
		if !slices.Equal(got, []string{"1:1", "2:3", "3:5"}) {
			t.Fatalf("FETCH after the EXPUNGEs: %q", got)
		}
	})
	t.Run("UID FETCH allows EXPUNGE after it", func(t *testing.T) {
		if _, err := cli.Move(context.Background(), messageIDOf(t, db, "INBOX", 3), "Archive"); err == nil {
			t.Fatal("a move to a folder that does not exist")
		}
		archive(t, db)
		if _, err := cli.Move(context.Background(), messageIDOf(t, db, "INBOX", 3), "Archive"); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Fetch(imap.UIDSetNum(1), &imap.FetchOptions{Flags: true}).Collect(); err != nil {
			t.Fatal(err)
		}
		if got := c.take(); !slices.Equal(got, []string{"EXPUNGE 2"}) {
			t.Fatalf("after UID FETCH: %q", got)
		}
	})
	t.Run("the session never broke", func(t *testing.T) {
		if err := c.Noop().Wait(); err != nil {
			t.Fatal(err)
		}
		sel, err := c.Select("INBOX", nil).Wait()
		if err != nil || sel.NumMessages != 2 {
			t.Fatalf("SELECT again: %+v %v", sel, err)
		}
	})
}

// archive adds an Archive folder to the store, as a sync pass would.
func archive(t *testing.T, db *store.DB) {
	t.Helper()
	err := db.Write(context.Background(), func(tx *store.Tx) error {
		_, err := tx.UpsertMailFolder(context.Background(), "work", "Archive", "/", `\Archive`)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIdleSeesAnotherProcesssChangesByItsPeriodicCheck(t *testing.T) {
	db := openStore(t)
	fillFolder(t, db, 3)
	w := watch(t, startEndpointWith(t, imapd.Options{DB: db, Flagger: &outbox.Local{DB: db}, NoChange: outbox.ErrNoChange,
		IdleCheck: 200 * time.Millisecond}))
	if _, err := w.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	stop := w.idle(t)
	defer stop()
	cli := otherProcess(t, db)
	if _, err := cli.Flag(context.Background(), messageIDOf(t, db, "INBOX", 1), []string{"$Work"}, nil); err != nil {
		t.Fatal(err)
	}
	w.await(t, 3*time.Second, `FETCH 1 UID 1 [$Work]`)
	if _, err := cli.Delete(context.Background(), messageIDOf(t, db, "INBOX", 3)); err != nil {
		t.Fatal(err)
	}
	w.await(t, 3*time.Second, "EXPUNGE 3")
}

func TestStoreOnAMessageAnotherProcessJustDeletedPassesItBy(t *testing.T) {
	db, addr := localStore(t, 3)
	c := watch(t, addr)
	if _, err := c.Select("INBOX", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := otherProcess(t, db).Delete(context.Background(), messageIDOf(t, db, "INBOX", 2)); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Store(imap.SeqSetNum(1, 2, 3), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagFlagged}}, nil).Collect()
	if err != nil {
		t.Fatalf("STORE: %v", err)
	}
	if len(msgs) != 2 || msgs[0].SeqNum != 1 || msgs[1].SeqNum != 3 {
		t.Fatalf("STORE answered %+v", msgs)
	}
	if err := c.Noop().Wait(); err != nil {
		t.Fatal(err)
	}
	if got := c.take(); !slices.Equal(got, []string{"EXPUNGE 2"}) {
		t.Fatalf("after NOOP: %q", got)
	}
}
