package caldav_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/holdover/holdover/connectors/caldav"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

func TestRadicaleDiscoveryListsTwoCalendarsFromServerRootAndPrincipal(t *testing.T) {
	r := testenv.StartRadicale(t)
	work := mkcalendar(t, r, "work", "Work", "#FF0000FF", "VEVENT")
	tasks := mkcalendar(t, r, "tasks", "Tâches & todo", "#00FF00FF", "VEVENT", "VTODO")
	ctx := context.Background()

	for _, start := range []string{r.URL, r.URL + r.User + "/"} {
		c, cnt := clientFor(t, r, start)
		cals, err := c.Calendars(ctx)
		if err != nil {
			t.Fatalf("Calendars from %s: %v", start, err)
		}
		slices.SortFunc(cals, func(a, b hsync.RemoteCalendar) int { return strings.Compare(a.Href, b.Href) })
		if len(cals) != 2 || cals[0].Href != tasks || cals[1].Href != work {
			t.Fatalf("Calendars from %s = %+v, want %s and %s", start, cals, tasks, work)
		}
		for _, tc := range []struct {
			got   hsync.RemoteCalendar
			name  string
			color string
			comps []string
		}{
			{cals[0], "Tâches & todo", "#00FF00FF", []string{"VEVENT", "VTODO"}},
			{cals[1], "Work", "#FF0000FF", []string{"VEVENT"}},
		} {
			if tc.got.Name != tc.name || tc.got.Color != tc.color || !slices.Equal(tc.got.Components, tc.comps) {
				t.Errorf("%s: name %q color %q comps %v; want %q %q %v", tc.got.Href, tc.got.Name, tc.got.Color, tc.got.Components, tc.name, tc.color, tc.comps)
			}
			if tc.got.CTag == "" || tc.got.SyncToken == "" {
				t.Errorf("%s: ctag %q sync-token %q; Radicale offers both", tc.got.Href, tc.got.CTag, tc.got.SyncToken)
			}
		}

		// Discovery is remembered: listing again is one PROPFIND. Every
		// calendar had a sync-token, so it no longer asks for getctag.
		cnt.reset()
		again, err := c.Calendars(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := cnt.count("PROPFIND"); n != 1 {
			t.Errorf("second Calendars from %s: %d PROPFINDs, want 1", start, n)
		}
		for _, cal := range again {
			if cal.CTag != "" || cal.SyncToken == "" {
				t.Errorf("second listing of %s: ctag %q sync-token %q; want the sync-token alone", cal.Href, cal.CTag, cal.SyncToken)
			}
		}
		// The engine's hint (a calendar had no sync-token) brings it back.
		c.HintSyncTokens(false)
		if again, _ := c.Calendars(ctx); len(again) != 2 || again[0].CTag == "" {
			t.Errorf("listing after HintSyncTokens(false) = %+v, want the ctag", again)
		}
	}
}

func TestRadicaleDiscoveryFromACalendarURLListsJustIt(t *testing.T) {
	r := testenv.StartRadicale(t)
	work := mkcalendar(t, r, "work", "Work", "#FF0000FF", "VEVENT")
	mkcalendar(t, r, "other", "Other", "#0000FFFF", "VEVENT")
	for _, url := range []string{r.URL + r.User + "/work/", r.URL + r.User + "/work"} {
		c, _ := clientFor(t, r, url)
		cals, err := c.Calendars(context.Background())
		if err != nil {
			t.Fatalf("Calendars from %s: %v", url, err)
		}
		if len(cals) != 1 || cals[0].Href != work || cals[0].Name != "Work" || cals[0].SyncToken == "" {
			t.Fatalf("Calendars from %s = %+v, want only %s", url, cals, work)
		}
	}
}

func TestRadicaleChangesReportsOnlyWhatChangedSinceTheToken(t *testing.T) {
	r := testenv.StartRadicale(t)
	cal := mkcalendar(t, r, "work", "Work", "#FF0000FF", "VEVENT")
	c, cnt := clientFor(t, r, "")
	ctx := context.Background()

	// Radicale percent-encodes "@" in hrefs; the client hands out one form.
	for _, name := range []string{"keep.ics", "edit.ics", "gone%40x.ics"} {
		st, _, b := raw(t, r, "PUT", cal+name, map[string]string{"Content-Type": "text/calendar"}, event(name+"@holdover", name))
		if st != http.StatusCreated {
			t.Fatalf("PUT %s: %d %s", name, st, b)
		}
	}
	first, err := c.Changes(ctx, cal, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hrefsOf(first.Changed), []string{cal + "edit.ics", cal + "gone@x.ics", cal + "keep.ics"}; !slices.Equal(got, want) || len(first.Removed) != 0 || first.Truncated {
		t.Fatalf("initial Changes = %+v, want changed %v", first, want)
	}
	etags := map[string]string{}
	for _, ref := range first.Changed {
		if !strings.HasPrefix(ref.ETag, `"`) {
			t.Errorf("%s: ETag %q not quoted", ref.Href, ref.ETag)
		}
		etags[ref.Href] = ref.ETag
	}
	_, token, err := c.CTag(ctx, cal)
	if err != nil || token != first.SyncToken {
		t.Fatalf("CTag sync-token %q, %v; Changes said %q", token, err, first.SyncToken)
	}

	// Nothing changed: one REPORT, nothing reported, the same token.
	cnt.reset()
	same, err := c.Changes(ctx, cal, first.SyncToken)
	if err != nil || len(same.Changed)+len(same.Removed) != 0 || same.SyncToken != first.SyncToken {
		t.Fatalf("no-op Changes = %+v, %v", same, err)
	}
	if n := cnt.count("REPORT"); n != 1 {
		t.Errorf("no-op Changes: %d REPORTs", n)
	}

	// Another client edits one, deletes one (by its encoded href) and adds
	// one whose name needs escaping; holdover adds one through the client.
	if st, _, b := raw(t, r, "PUT", cal+"edit.ics", map[string]string{"Content-Type": "text/calendar", "If-Match": etags[cal+"edit.ics"]}, event("edit.ics@holdover", "edited")); st != http.StatusCreated && st != http.StatusNoContent {
		t.Fatalf("server-side edit: %d %s", st, b)
	}
	if st, _, b := raw(t, r, "DELETE", cal+"gone%40x.ics", nil, ""); st != http.StatusOK && st != http.StatusNoContent {
		t.Fatalf("server-side delete: %d %s", st, b)
	}
	if st, _, b := raw(t, r, "PUT", cal+"new%20one.ics", map[string]string{"Content-Type": "text/calendar"}, event("new@holdover", "new")); st != http.StatusCreated {
		t.Fatalf("server-side create: %d %s", st, b)
	}
	mine, err := c.Put(ctx, cal+"mine.ics", []byte(event("mine@holdover", "mine")), hsync.PutCondition{Create: true})
	if err != nil {
		t.Fatal(err)
	}

	next, err := c.Changes(ctx, cal, first.SyncToken)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hrefsOf(next.Changed), []string{cal + "edit.ics", cal + "mine.ics", cal + "new%20one.ics"}; !slices.Equal(got, want) {
		t.Errorf("changed %v, want %v", got, want)
	}
	if !slices.Equal(next.Removed, []string{cal + "gone@x.ics"}) {
		t.Errorf("removed %v, want [%sgone@x.ics]", next.Removed, cal)
	}
	if next.SyncToken == first.SyncToken || next.Truncated {
		t.Errorf("token %q (was %q), truncated %v", next.SyncToken, first.SyncToken, next.Truncated)
	}
	for _, ref := range next.Changed {
		switch ref.Href {
		case cal + "edit.ics":
			if ref.ETag == etags[ref.Href] {
				t.Errorf("edited object kept its ETag %s", ref.ETag)
			}
		case cal + "mine.ics":
			if ref.ETag != mine {
				t.Errorf("own PUT: ETag %s in Changes, %s from Put", ref.ETag, mine)
			}
		}
	}
}

func TestRadicaleRefusedSyncTokenIsErrInvalidSyncToken(t *testing.T) {
	r := testenv.StartRadicale(t)
	cal := mkcalendar(t, r, "work", "Work", "#FF0000FF", "VEVENT")
	c, _ := clientFor(t, r, "")
	// Radicale answers an unknown token (bogus or expired from its cache)
	// with 403 and <D:error><D:valid-sync-token/></D:error>.
	for _, tok := range []string{"http://radicale.org/ns/sync/" + strings.Repeat("0", 64), "not-a-token"} {
		_, err := c.Changes(context.Background(), cal, tok)
		if !errors.Is(err, hsync.ErrInvalidSyncToken) {
			t.Fatalf("Changes with %q: %v, want ErrInvalidSyncToken", tok, err)
		}
		kindIs(t, "refused token", err, hsync.Permanent)
	}
}

func TestRadicaleETagsAndMultigetOf300ObjectsInBatches(t *testing.T) {
	defer caldav.SetMultigetBatch(100)()
	r := testenv.StartRadicale(t)
	files := seed(t, r, "big", 300)
	dir := r.CalendarDir(t, "big")
	// Names Radicale must percent-encode.
	for _, f := range []string{"with space.ics", "at@sign.ics", "ünï.ics"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(event(f+"@holdover", f)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cal := "/" + r.User + "/big/"
	c, cnt := clientFor(t, r, "")
	ctx := context.Background()

	refs, err := c.ETags(ctx, cal)
	if err != nil {
		t.Fatal(err)
	}
	if len(refs) != 303 {
		t.Fatalf("ETags: %d objects, want 303", len(refs))
	}
	want := map[string]string{}
	for _, ref := range refs {
		if ref.ETag == "" || strings.HasSuffix(ref.Href, "/") {
			t.Fatalf("ETags: bad ref %+v", ref)
		}
		want[ref.Href] = ref.ETag
	}
	for _, h := range []string{cal + "with%20space.ics", cal + "at@sign.ics", cal + "%C3%BCn%C3%AF.ics", cal + files[0]} {
		if _, ok := want[h]; !ok {
			t.Errorf("ETags lacks %s", h)
		}
	}
	// sync-collection names every object the same way as PROPFIND.
	all, err := c.Changes(ctx, cal, "")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hrefsOf(all.Changed), hrefsOf(refs)) {
		t.Errorf("Changes and ETags disagree on hrefs")
	}

	hrefs := append(hrefsOf(refs), cal+"missing.ics")
	cnt.reset()
	got := map[string]bool{}
	err = c.Multiget(ctx, cal, hrefs, func(o hsync.CalObject) error {
		if got[o.Href] {
			t.Errorf("%s delivered twice", o.Href)
		}
		got[o.Href] = true
		if o.ETag != want[o.Href] {
			t.Errorf("%s: multiget ETag %s, PROPFIND %s", o.Href, o.ETag, want[o.Href])
		}
		if !strings.Contains(string(o.Data), "BEGIN:VCALENDAR") || !strings.Contains(string(o.Data), "UID:") {
			t.Errorf("%s: data %.80q", o.Href, o.Data)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 303 || got[cal+"missing.ics"] {
		t.Errorf("Multiget delivered %d objects (missing one: %v), want 303", len(got), got[cal+"missing.ics"])
	}
	if n := cnt.count("REPORT"); n != 4 {
		t.Errorf("Multiget of 304 hrefs: %d REPORTs, want 4 batches", n)
	}

	// An error from the callback stops the transfer and comes back as is.
	stop := errors.New("disk full")
	calls := 0
	err = c.Multiget(ctx, cal, hrefs, func(hsync.CalObject) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("callback error: got %v after %d calls, want it unchanged after 1", err, calls)
	}

	o, err := c.Get(ctx, cal+"at%40sign.ics")
	if err != nil || o.Href != cal+"at@sign.ics" || o.ETag != want[cal+"at@sign.ics"] || !strings.Contains(string(o.Data), "UID:at@sign.ics@holdover") {
		t.Errorf("Get = %+v, %v", o, err)
	}
}

func TestRadicaleConditionalWritesNeverOverwrite(t *testing.T) {
	r := testenv.StartRadicale(t)
	cal := mkcalendar(t, r, "work", "Work", "#FF0000FF", "VEVENT")
	c, _ := clientFor(t, r, "")
	ctx := context.Background()
	href := cal + "ev.ics"

	v1, err := c.Put(ctx, href, []byte(event("ev@holdover", "v1")), hsync.PutCondition{Create: true})
	if err != nil || v1 == "" {
		t.Fatalf("create: %q, %v", v1, err)
	}
	_, err = c.Put(ctx, href, []byte(event("ev@holdover", "again")), hsync.PutCondition{Create: true})
	kindIs(t, "create on a taken href (If-None-Match: *)", err, hsync.Conflict)

	// The same UID at another href: CalDAV's no-uid-conflict (409).
	_, err = c.Put(ctx, cal+"dup.ics", []byte(event("ev@holdover", "dup")), hsync.PutCondition{Create: true})
	kindIs(t, "create of a UID the calendar holds elsewhere", err, hsync.Conflict)

	v2, err := c.Put(ctx, href, []byte(event("ev@holdover", "v2")), hsync.PutCondition{IfMatch: v1})
	if err != nil || v2 == "" || v2 == v1 {
		t.Fatalf("edit: %q, %v", v2, err)
	}
	_, err = c.Put(ctx, href, []byte(event("ev@holdover", "stale edit")), hsync.PutCondition{IfMatch: v1})
	kindIs(t, "edit with a stale ETag", err, hsync.Conflict)
	if !strings.Contains(err.Error(), "412") {
		t.Errorf("stale edit: %v, want Radicale's 412", err)
	}
	err = c.Delete(ctx, href, v1)
	kindIs(t, "delete with a stale ETag", err, hsync.Conflict)

	_, err = c.Put(ctx, href, []byte(event("ev@holdover", "blind")), hsync.PutCondition{})
	kindIs(t, "unconditional PUT", err, hsync.Permanent)

	o, err := c.Get(ctx, href)
	if err != nil || !strings.Contains(string(o.Data), "SUMMARY:v2") || o.ETag != v2 {
		t.Fatalf("after refused writes: %+v, %v; want v2 intact", o, err)
	}
	if err := c.Delete(ctx, href, v2); err != nil {
		t.Fatalf("delete with the current ETag: %v", err)
	}
	if err := c.Delete(ctx, href, v2); err != nil {
		t.Fatalf("delete of an object already gone: %v", err)
	}
	_, err = c.Get(ctx, href)
	kindIs(t, "get of a deleted object", err, hsync.Permanent)
	if !errors.Is(err, hsync.ErrObjectNotFound) {
		t.Errorf("get of a deleted object: %v, want ErrObjectNotFound", err)
	}
}

func TestRadicaleWrongPasswordIsAuthAndNeverQuoted(t *testing.T) {
	r := testenv.StartRadicale(t)
	mkcalendar(t, r, "work", "Work", "#FF0000FF", "VEVENT")
	wrong := "wrong-" + r.Password
	calls := 0
	c, err := caldav.New(caldav.Config{
		URL: r.URL, Username: r.User,
		Password: func(context.Context) (string, error) { calls++; return wrong, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Calendars(context.Background())
	kindIs(t, "wrong password", err, hsync.Auth)
	if strings.Contains(err.Error(), wrong) || strings.Contains(err.Error(), r.Password) {
		t.Fatalf("the error quotes the password: %v", err)
	}
	// Radicale redirects /.well-known/caldav before it checks
	// credentials, so the refusal comes on the second request, which
	// fetches the password once more in case it was rotated; never more.
	if calls > 2 {
		t.Errorf("password source called %d times for one refusal", calls)
	}

	failing := errors.New("keyring locked")
	c, _ = caldav.New(caldav.Config{URL: r.URL, Username: r.User,
		Password: func(context.Context) (string, error) { return "", failing }})
	_, err = c.Calendars(context.Background())
	kindIs(t, "failing password source", err, hsync.Auth)
	if !errors.Is(err, failing) {
		t.Errorf("password source error not wrapped: %v", err)
	}

	// Another user's home: a bare 403 refuses the account.
	c, _ = clientFor(t, r, r.URL+"someoneelse/")
	_, err = c.Calendars(context.Background())
	kindIs(t, "another user's home", err, hsync.Auth)
}

func TestRadicaleRemovedCalendarIsErrCalendarGone(t *testing.T) {
	r := testenv.StartRadicale(t)
	cal := mkcalendar(t, r, "work", "Work", "#FF0000FF", "VEVENT")
	c, _ := clientFor(t, r, "")
	ctx := context.Background()
	tag, err := c.Put(ctx, cal+"ev.ics", []byte(event("ev@holdover", "v1")), hsync.PutCondition{Create: true})
	if err != nil {
		t.Fatal(err)
	}
	if st, _, b := raw(t, r, "DELETE", cal, nil, ""); st != http.StatusOK && st != http.StatusNoContent {
		t.Fatalf("DELETE calendar: %d %s", st, b)
	}
	cals, err := c.Calendars(ctx)
	if err != nil || len(cals) != 0 {
		t.Fatalf("Calendars after removal = %+v, %v", cals, err)
	}
	for name, call := range map[string]func() error{
		"Changes": func() error { _, err := c.Changes(ctx, cal, ""); return err },
		"CTag":    func() error { _, _, err := c.CTag(ctx, cal); return err },
		"ETags":   func() error { _, err := c.ETags(ctx, cal); return err },
		"Multiget": func() error {
			return c.Multiget(ctx, cal, []string{cal + "ev.ics"}, func(hsync.CalObject) error { return nil })
		},
		// Radicale answers a PUT into a missing collection 409 (even with
		// If-Match, where RFC 9110 would have 412); the client looks and
		// finds the calendar gone, not a conflict.
		"Put create": func() error {
			_, err := c.Put(ctx, cal+"new.ics", []byte(event("new@holdover", "new")), hsync.PutCondition{Create: true})
			return err
		},
		"Put edit": func() error {
			_, err := c.Put(ctx, cal+"ev.ics", []byte(event("ev@holdover", "v2")), hsync.PutCondition{IfMatch: tag})
			return err
		},
	} {
		err := call()
		if !isGone(err) {
			t.Errorf("%s on a removed calendar: %v, want ErrCalendarGone", name, err)
		}
		kindIs(t, name, err, hsync.Permanent)
	}
}

func TestRadicaleCutMidMultigetIsTransient(t *testing.T) {
	r := testenv.StartRadicale(t)
	seed(t, r, "big", 150)
	cal := "/" + r.User + "/big/"
	p := startProxy(t, r)
	c, _ := clientFor(t, r, "http://"+p.Addr()+"/")
	ctx := context.Background()
	refs, err := c.ETags(ctx, cal)
	if err != nil || len(refs) != 150 {
		t.Fatalf("ETags through the proxy: %d, %v", len(refs), err)
	}
	// Inside the first batch's answer (Radicale gzips it: ~100 bytes an
	// event).
	p.CutAfter(3000)
	n := 0
	err = c.Multiget(ctx, cal, hrefsOf(refs), func(hsync.CalObject) error { n++; return nil })
	kindIs(t, fmt.Sprintf("multiget cut after %d objects", n), err, hsync.Transient)
	p.CutAfter(0)
	p.Down()
	_, err = c.Calendars(ctx)
	kindIs(t, "server unreachable", err, hsync.Transient)
}
