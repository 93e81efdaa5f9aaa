package imapd_test

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/endpoints/imapd"
	"github.com/holdover/holdover/internal/locallogin"
)

func TestClientReadsTheMirrorAsDovecotServesIt(t *testing.T) {
	m := newMirror(t)
	m.appendMsg(t, "INBOX", message("one@x", "first", "hello one"), t0, imap.FlagSeen)
	m.appendMsg(t, "INBOX", multipart("two@x"), t0.Add(48*time.Hour))
	m.appendMsg(t, "INBOX", message("three@x", "third", "needle in here"), t0.Add(72*time.Hour), imap.FlagFlagged)
	m.appendMsg(t, "Archive", message("old@x", "archived", "old"), t0.Add(-time.Hour))
	m.sync(t)
	c := login(t, startEndpoint(t, m.db, 0))

	t.Run("LIST shows the mirrored folders with their special use", func(t *testing.T) {
		got, err := c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		want, err := m.c.List("", "*", &imap.ListOptions{ReturnSpecialUse: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		if a, b := listing(got), listing(want); a != b {
			t.Fatalf("LIST:\n holdover %s\n dovecot  %s", a, b)
		}
	})

	t.Run("STATUS and SELECT agree, with holdover's own UIDVALIDITY", func(t *testing.T) {
		st, err := c.Status("INBOX", &imap.StatusOptions{NumMessages: true, NumUnseen: true, UIDNext: true, UIDValidity: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		if *st.NumMessages != 3 || *st.NumUnseen != 2 || st.UIDNext != 4 || sel.NumMessages != 3 || sel.UIDNext != 4 ||
			sel.UIDValidity == 0 || sel.UIDValidity != st.UIDValidity {
			t.Fatalf("STATUS %+v (messages %d, unseen %d), SELECT %+v", st, *st.NumMessages, *st.NumUnseen, sel)
		}
	})

	t.Run("FETCH answers byte for byte what Dovecot answers", func(t *testing.T) {
		sections := []*imap.FetchItemBodySection{
			{Peek: true},
			{Peek: true, Specifier: imap.PartSpecifierHeader},
			{Peek: true, Specifier: imap.PartSpecifierText},
			{Peek: true, Part: []int{1}},
			{Peek: true, Part: []int{2}},
			{Peek: true, Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Subject", "From"}},
			{Peek: true, Partial: &imap.SectionPartial{Offset: 3, Size: 20}},
		}
		opts := &imap.FetchOptions{Flags: true, InternalDate: true, RFC822Size: true, BodySection: sections}
		for _, folder := range []string{"INBOX", "Archive"} {
			ours, theirs := byMessageID(t, c, folder, opts), byMessageID(t, m.c, folder, opts)
			if len(ours) != len(theirs) || len(ours) == 0 {
				t.Fatalf("%s: %d messages, Dovecot %d", folder, len(ours), len(theirs))
			}
			for id, want := range theirs {
				got := ours[id]
				if got == nil {
					t.Fatalf("%s: %s missing", folder, id)
				}
				if !slices.Equal(sortedFlags(got.Flags), sortedFlags(want.Flags)) || !got.InternalDate.Equal(want.InternalDate) || got.RFC822Size != want.RFC822Size {
					t.Errorf("%s %s: flags %v date %v size %d; Dovecot %v %v %d", folder, id, got.Flags, got.InternalDate, got.RFC822Size, want.Flags, want.InternalDate, want.RFC822Size)
				}
				if fmt.Sprint(got.Envelope) != fmt.Sprint(want.Envelope) {
					t.Errorf("%s %s: envelope\n %+v\n Dovecot %+v", folder, id, got.Envelope, want.Envelope)
				}
				for _, s := range sections {
					if g, w := got.FindBodySection(s), want.FindBodySection(s); !bytes.Equal(g, w) {
						t.Errorf("%s %s section %+v:\n%q\n Dovecot:\n%q", folder, id, s, g, w)
					}
				}
			}
		}
	})

	t.Run("BINARY and BINARY.SIZE decode a part as Dovecot does", func(t *testing.T) {
		bin := []*imap.FetchItemBinarySection{{Peek: true, Part: []int{1}}, {Peek: true, Part: []int{2}}}
		size := []*imap.FetchItemBinarySectionSize{{Part: []int{2}}}
		opts := &imap.FetchOptions{BinarySection: bin, BinarySectionSize: size}
		ours, theirs := byMessageID(t, c, "INBOX", opts), byMessageID(t, m.c, "INBOX", opts)
		got, want := ours["two@x"], theirs["two@x"]
		if got == nil || want == nil {
			t.Fatalf("two@x: holdover %v, Dovecot %v", got, want)
		}
		if g := got.FindBinarySection(bin[1]); !bytes.Equal(g, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}) {
			t.Errorf("BINARY[2] = %q, want the decoded attachment", g)
		}
		for _, s := range bin {
			if g, w := got.FindBinarySection(s), want.FindBinarySection(s); !bytes.Equal(g, w) {
				t.Errorf("BINARY%v: %q, Dovecot %q", s.Part, g, w)
			}
		}
		g, gok := got.FindBinarySectionSize([]int{2})
		w, wok := want.FindBinarySectionSize([]int{2})
		if !gok || !wok || g != w || g != 10 {
			t.Errorf("BINARY.SIZE[2] = %d (%v), Dovecot %d (%v), want 10", g, gok, w, wok)
		}
	})

	t.Run("BODYSTRUCTURE of a multipart message", func(t *testing.T) {
		msgs := byMessageID(t, c, "INBOX", &imap.FetchOptions{BodyStructure: &imap.FetchItemBodyStructure{}})
		mp, ok := msgs["two@x"].BodyStructure.(*imap.BodyStructureMultiPart)
		if !ok || mp.Subtype != "mixed" || len(mp.Children) != 2 {
			t.Fatalf("bodystructure: %#v", msgs["two@x"].BodyStructure)
		}
	})

	t.Run("SEARCH by UID set, flags, dates and text", func(t *testing.T) {
		if _, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			t.Fatal(err)
		}
		var two imap.UIDSet
		two.AddRange(2, 0)
		for _, tc := range []struct {
			name string
			c    imap.SearchCriteria
			want []imap.UID
		}{
			{"everything", imap.SearchCriteria{}, []imap.UID{1, 2, 3}},
			{"UID 2:*", imap.SearchCriteria{UID: []imap.UIDSet{two}}, []imap.UID{2, 3}},
			{"SEEN", imap.SearchCriteria{Flag: []imap.Flag{imap.FlagSeen}}, []imap.UID{1}},
			{"UNSEEN FLAGGED", imap.SearchCriteria{NotFlag: []imap.Flag{imap.FlagSeen}, Flag: []imap.Flag{imap.FlagFlagged}}, []imap.UID{3}},
			{"SINCE a day later", imap.SearchCriteria{Since: t0.Add(24 * time.Hour)}, []imap.UID{2, 3}},
			{"BEFORE a day later", imap.SearchCriteria{Before: t0.Add(24 * time.Hour)}, []imap.UID{1}},
			{"SUBJECT", imap.SearchCriteria{Header: []imap.SearchCriteriaHeaderField{{Key: "Subject", Value: "THIRD"}}}, []imap.UID{3}},
			{"BODY", imap.SearchCriteria{Body: []string{"needle"}}, []imap.UID{3}},
			{"BODY of a word's start", imap.SearchCriteria{Body: []string{"NEED"}}, []imap.UID{3}},
			{"BODY phrase", imap.SearchCriteria{Body: []string{"needle in"}}, []imap.UID{3}},
			{"BODY not in the body but the subject", imap.SearchCriteria{Body: []string{"third"}}, nil},
			{"TEXT in the subject", imap.SearchCriteria{Text: []string{"third"}}, []imap.UID{3}},
			{"TEXT in the text part of a multipart message", imap.SearchCriteria{Text: []string{"see"}}, []imap.UID{2}},
			{"TEXT with FTS syntax is searched for, not run", imap.SearchCriteria{Text: []string{`needle" OR "hello`}}, nil},
			{"TEXT OR", imap.SearchCriteria{Or: [][2]imap.SearchCriteria{{{Text: []string{"needle"}}, {Text: []string{"hello"}}}}}, []imap.UID{1, 3}},
			{"NOT SEEN", imap.SearchCriteria{Not: []imap.SearchCriteria{{Flag: []imap.Flag{imap.FlagSeen}}}}, []imap.UID{2, 3}},
		} {
			data, err := c.UIDSearch(&tc.c, nil).Wait()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if got := data.AllUIDs(); !slices.Equal(got, tc.want) {
				t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
			}
		}
	})

	t.Run("a FETCH of UIDs that do not exist is an empty answer", func(t *testing.T) {
		msgs, err := c.Fetch(imap.UIDSetNum(99, 100), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil || len(msgs) != 0 {
			t.Fatalf("fetch: %v %v", msgs, err)
		}
	})

	t.Run("writes are refused with NO [CANNOT]", func(t *testing.T) {
		err := c.Store(imap.UIDSetNum(1), &imap.StoreFlags{Op: imap.StoreFlagsAdd, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close()
		if code := responseCode(err); code != imap.ResponseCodeCannot {
			t.Fatalf("STORE: %v (code %q)", err, code)
		}
		if err := c.Noop().Wait(); err != nil {
			t.Fatalf("the session after a refused write: %v", err)
		}
	})
}

func TestLocalUIDsStayAcrossARemoteUIDValidityReset(t *testing.T) {
	m := newMirror(t)
	if err := m.c.Create("Lists", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		m.appendMsg(t, "Lists", message(fmt.Sprintf("list-%d@x", i), "list", "list body"), t0.Add(time.Duration(i)*time.Hour))
	}
	m.sync(t)
	c := login(t, startEndpoint(t, m.db, 0))
	view := func() (uint32, string) {
		sel, err := c.Select("Lists", &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Envelope: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, msg := range msgs {
			fmt.Fprintf(&b, "%d=%s ", msg.UID, msg.Envelope.MessageID)
		}
		return sel.UIDValidity, b.String()
	}
	validity, uids := view()

	// Recreate the folder on the server: same messages, new UIDVALIDITY,
	// other UIDs (mailsync's TestUIDValidityChangeKeepsStoredBodies).
	if err := m.c.Delete("Lists").Wait(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // Dovecot derives UIDVALIDITY from the clock
	if err := m.c.Create("Lists", nil).Wait(); err != nil {
		t.Fatal(err)
	}
	for i := 4; i >= 0; i-- {
		m.appendMsg(t, "Lists", message(fmt.Sprintf("list-%d@x", i), "list", "list body"), t0.Add(time.Duration(i)*time.Hour))
	}
	if st := m.sync(t); st.UIDValidityResets != 1 {
		t.Fatalf("the engine saw no UIDVALIDITY reset: %+v", st)
	}
	if v, u := view(); v != validity || u != uids {
		t.Fatalf("after the remote reset:\n UIDVALIDITY %d, UIDs %s\n before: %d, %s", v, u, validity, uids)
	}
}

func TestWrongPasswordIsRefusedAfterADelay(t *testing.T) {
	addr := startEndpoint(t, openStore(t), 200*time.Millisecond)
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, creds := range [][2]string{{localUser, "wrong"}, {"nobody", localPass}} {
		start := time.Now()
		err := c.Login(creds[0], creds[1]).Wait()
		if code := responseCode(err); code != imap.ResponseCodeAuthenticationFailed {
			t.Fatalf("login %s: %v (code %q)", creds[0], err, code)
		}
		if d := time.Since(start); d < 200*time.Millisecond {
			t.Fatalf("refused after %v, want the delay", d)
		}
	}
	if err := c.Login(localUser, localPass).Wait(); err != nil {
		t.Fatalf("the right password after wrong ones: %v", err)
	}
}

func responseCode(err error) imap.ResponseCode {
	var ierr *imap.Error
	if errors.As(err, &ierr) {
		return ierr.Code
	}
	return ""
}

func sortedFlags(fs []imap.Flag) []imap.Flag {
	out := slices.DeleteFunc(slices.Clone(fs), func(f imap.Flag) bool { return f == `\Recent` })
	slices.Sort(out)
	return out
}

// listing renders a LIST answer as "name attrs" lines, sorted, without
// the child attributes (Dovecot answers them only when asked).
func listing(l []*imap.ListData) string {
	var lines []string
	for _, d := range l {
		var attrs []string
		for _, a := range d.Attrs {
			switch a {
			case imap.MailboxAttrHasChildren, imap.MailboxAttrHasNoChildren:
				continue
			}
			attrs = append(attrs, string(a))
		}
		sort.Strings(attrs)
		lines = append(lines, fmt.Sprintf("%s %c %v", d.Mailbox, d.Delim, attrs))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func TestCloseBeforeServeReleasesTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := imapd.New(imapd.Options{DB: openStore(t), Auth: locallogin.Static(nil)})
	srv.Close()
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve after close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve after Close did not return")
	}
	if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
		c.Close()
		t.Fatal("the listener still accepts connections")
	}
}
