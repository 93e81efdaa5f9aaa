package caldavd_test

import (
	"context"
	"crypto/tls"
	"encoding/xml"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/endpoints/caldavd"
	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

func TestALoginIsRequiredAndAWrongOneRefused(t *testing.T) {
	e := newEnv(t)
	resp, err := http.Get(e.url + "/work/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("no login: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest("PROPFIND", e.url+"/work/", nil)
	req.SetBasicAuth(localUser, "wrong")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	// Another account's namespace is not there for this login.
	if resp, _ := do(t, "PROPFIND", e.url+"/home/calendars/", "", "Depth", "0"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("another account's home: %d", resp.StatusCode)
	}
}

func TestDiscoveryFindsThePrincipalTheHomeAndTheMirroredCalendars(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "work", 2)
	e.sync(t)

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("PROPFIND", e.url+"/.well-known/caldav", nil)
	req.SetBasicAuth(localUser, localPass)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 3 || resp.Header.Get("Location") != "/work/" {
		t.Fatalf("well-known: %d → %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	_, body := do(t, "PROPFIND", e.url+"/work/", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:current-user-principal/><c:calendar-home-set/></d:prop></d:propfind>`,
		"Depth", "0", "Content-Type", "application/xml")
	if !strings.Contains(body, "/work/calendars/") || !strings.Contains(body, "current-user-principal") {
		t.Fatalf("principal: %s", body)
	}
	resp, body = do(t, "PROPFIND", e.url+"/work/calendars/", `<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><d:resourcetype/><d:displayname/><d:sync-token/><cs:getctag/><d:unknown-thing/></d:prop></d:propfind>`,
		"Depth", "1", "Content-Type", "application/xml")
	if resp.StatusCode != http.StatusMultiStatus || strings.Count(body, "<c:calendar/>") != 1 || !strings.Contains(body, "http://holdover.invalid/ns/sync/") ||
		!strings.Contains(body, "404 Not Found") {
		t.Fatalf("home, Depth 1: %d %s", resp.StatusCode, body)
	}
}

var tokenRE = regexp.MustCompile(`<d:sync-token>([^<]+)</d:sync-token>`)

func syncReport(t *testing.T, cal, token string) (string, string) {
	t.Helper()
	resp, body := do(t, "REPORT", cal, `<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>`+token+`</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>`,
		"Content-Type", "application/xml")
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("sync-collection from %q: %d %s", token, resp.StatusCode, body)
	}
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no sync-token in %s", body)
	}
	return body, m[1]
}

// The write path: preconditions decided here against local ETags, each
// write a local change in the outbox, replayed to the provider once.
func TestWritesAreConditionalOnLocalETagsAndReachTheProviderOnce(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "work", 3)
	e.sync(t)
	cal := e.calendarURL(t, "work")

	// GET serves the provider's bytes (as the mirror stored them) with
	// the local ETag.
	stored, err := e.db.CalObjectsByUID(context.Background(), account, "work-1@test")
	if err != nil || len(stored) != 1 {
		t.Fatal(stored, err)
	}
	o, _ := e.db.CalObjectByID(context.Background(), stored[0].ID)
	resp, body := do(t, "GET", cal+"work-1@test.ics", "")
	if resp.StatusCode != 200 || body != string(o.Data) || resp.Header.Get("ETag") == "" {
		t.Fatalf("GET: %d %q %q", resp.StatusCode, resp.Header.Get("ETag"), body)
	}
	etag1 := resp.Header.Get("ETag")
	_, token := syncReport(t, cal, "")

	// Create: If-None-Match: * once, then refused.
	created := string(event("new@test", "made by a client", day.Add(48*time.Hour)))
	resp, body = do(t, "PUT", cal+"new.ics", created, "Content-Type", "text/calendar", "If-None-Match", "*")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("ETag") == "" {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "PUT", cal+"new.ics", created, "Content-Type", "text/calendar", "If-None-Match", "*"); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("second create: %d, want 412", resp.StatusCode)
	}

	// Edit: a stale If-Match is 412 from holdover, the current one wins.
	edited := strings.Replace(string(event("work-1@test", "moved by a client", day.Add(3*time.Hour))), "DTSTAMP:20261101T000000Z", "DTSTAMP:20261102T000000Z", 1)
	if resp, _ := do(t, "PUT", cal+"work-1@test.ics", edited, "Content-Type", "text/calendar", "If-Match", `"12345"`); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("stale If-Match: %d, want 412", resp.StatusCode)
	}
	resp, body = do(t, "PUT", cal+"work-1@test.ics", edited, "Content-Type", "text/calendar", "If-Match", etag1)
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("ETag") == etag1 {
		t.Fatalf("edit: %d %q %s", resp.StatusCode, resp.Header.Get("ETag"), body)
	}
	etag2 := resp.Header.Get("ETag")
	if resp, _ := do(t, "PUT", cal+"work-1@test.ics", edited, "Content-Type", "text/calendar", "If-Match", etag1); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("the first ETag again: %d, want 412", resp.StatusCode)
	}

	// Delete with a stale If-Match is refused; with none, done.
	if resp, _ := do(t, "DELETE", cal+"work-2@test.ics", "", "If-Match", `"1"`); resp.StatusCode != http.StatusPreconditionFailed {
		t.Fatalf("stale DELETE: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "DELETE", cal+"work-2@test.ics", ""); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", cal+"work-2@test.ics", ""); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("GET after DELETE: %d", resp.StatusCode)
	}

	// sync-collection from the first token names exactly these changes.
	body, _ = syncReport(t, cal, token)
	for _, want := range []string{"new.ics</d:href><d:propstat>", "work-1@test.ics</d:href><d:propstat>", "work-2@test.ics</d:href><d:status>HTTP/1.1 404"} {
		if !strings.Contains(body, want) {
			t.Fatalf("sync-collection lacks %q: %s", want, body)
		}
	}
	if strings.Contains(body, "work-0@test.ics") {
		t.Fatalf("an unchanged object is reported: %s", body)
	}

	waitFor(t, "the outbox drains", 10*time.Second, func() bool { return e.outboxDone(t) })
	if got, ok := e.serverObject(t, "work", "new.ics"); !ok || !strings.Contains(got, "made by a client") {
		t.Fatalf("the create at the provider: %v %q", ok, got)
	}
	if got, _ := e.serverObject(t, "work", "work-1@test.ics"); !strings.Contains(got, "moved by a client") {
		t.Fatalf("the edit at the provider: %q", got)
	}
	if _, ok := e.serverObject(t, "work", "work-2@test.ics"); ok {
		t.Fatal("the deletion did not reach the provider")
	}
	// The replay left the local ETag as it was: a client sees no change.
	e.sync(t)
	if resp, _ := do(t, "GET", cal+"work-1@test.ics", ""); resp.Header.Get("ETag") != etag2 {
		t.Fatalf("ETag after the replay and a sync: %q, want %q", resp.Header.Get("ETag"), etag2)
	}
}

func TestBadInputGetsAClearAnswerNeverACrash(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "work", 1)
	e.sync(t)
	cal := e.calendarURL(t, "work")
	cases := []struct {
		name, body string
		header     []string
		want       int
		says       string
	}{
		{"not iCalendar", "hello", []string{"Content-Type", "text/calendar"}, http.StatusBadRequest, "valid-calendar-data"},
		{"no UID", "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nDTSTART:20261201T090000Z\r\nSUMMARY:x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", []string{"Content-Type", "text/calendar"}, http.StatusBadRequest, "no UID"},
		{"another type", `{"event": 1}`, []string{"Content-Type", "application/json"}, http.StatusUnsupportedMediaType, "text/calendar"},
		{"a UID another event has", string(event("work-0@test", "dup", day)), []string{"Content-Type", "text/calendar"}, http.StatusConflict, "no-uid-conflict"},
		{"too large", strings.Repeat("X", 11<<20), []string{"Content-Type", "text/calendar"}, http.StatusRequestEntityTooLarge, "too large"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, body := do(t, "PUT", cal+"bad.ics", c.body, c.header...)
			if resp.StatusCode != c.want || !strings.Contains(body, c.says) {
				t.Fatalf("%d %s, want %d saying %q", resp.StatusCode, body, c.want, c.says)
			}
		})
	}
	if resp, body := do(t, "REPORT", cal, "<not xml", "Content-Type", "application/xml"); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("REPORT of garbage: %d %s", resp.StatusCode, body)
	}
	if resp, body := do(t, "REPORT", cal, `<d:sync-collection xmlns:d="DAV:"><d:sync-token>http://holdover.invalid/ns/sync/1</d:sync-token></d:sync-collection>`, "Content-Type", "application/xml"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "valid-sync-token") {
		t.Fatalf("an old token: %d %s", resp.StatusCode, body)
	}
	// Nothing was stored, nothing queued.
	counts, _ := e.db.OutboxCounts(context.Background())
	if n := counts[account]; len(n) != 0 {
		t.Fatalf("outbox after bad input: %v", n)
	}
}

// During a provider outage the endpoint keeps working from the store;
// the change reaches the provider once after recovery, and the client's
// ETag does not move.
func TestDuringAnOutageWritesAreAcceptedAndReplayedOnceAfter(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "work", 2)
	e.sync(t)
	cal := e.calendarURL(t, "work")
	e.proxy.Down()
	resp, body := do(t, "PUT", cal+"outage.ics", string(event("outage@test", "planned offline", day)), "Content-Type", "text/calendar", "If-None-Match", "*")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT during the outage: %d %s", resp.StatusCode, body)
	}
	etag := resp.Header.Get("ETag")
	if resp, _ := do(t, "PROPFIND", cal, "", "Depth", "1"); resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND during the outage: %d", resp.StatusCode)
	}
	time.Sleep(300 * time.Millisecond) // the worker tries and fails meanwhile
	if _, ok := e.serverObject(t, "work", "outage.ics"); ok {
		t.Fatal("reached the provider through a down proxy")
	}
	e.proxy.Up()
	e.worker.Wake()
	waitFor(t, "the replay after recovery", 15*time.Second, func() bool { return e.outboxDone(t) })
	if got, ok := e.serverObject(t, "work", "outage.ics"); !ok || !strings.Contains(got, "planned offline") {
		t.Fatalf("at the provider: %v %q", ok, got)
	}
	if resp, _ := do(t, "GET", cal+"outage.ics", ""); resp.Header.Get("ETag") != etag {
		t.Fatalf("ETag moved with the replay: %q → %q", etag, resp.Header.Get("ETag"))
	}
}

// Two apps editing the same version at once: the precondition is checked
// in the writing transaction, so exactly one wins and the others get 412.
func TestConcurrentEditsOfOneVersionLetExactlyOneWin(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "work", 1)
	e.sync(t)
	cal := e.calendarURL(t, "work")
	resp, _ := do(t, "GET", cal+"work-0@test.ics", "")
	etag := resp.Header.Get("ETag")
	const n = 8
	codes := make(chan int, n)
	for i := 0; i < n; i++ {
		go func() {
			body := string(event("work-0@test", fmt.Sprintf("edit %d", i), day))
			req, _ := http.NewRequest("PUT", cal+"work-0@test.ics", strings.NewReader(body))
			req.SetBasicAuth(localUser, localPass)
			req.Header.Set("Content-Type", "text/calendar")
			req.Header.Set("If-Match", etag)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	got := map[int]int{}
	for i := 0; i < n; i++ {
		got[<-codes]++
	}
	if got[http.StatusNoContent] != 1 || got[http.StatusPreconditionFailed] != n-1 {
		t.Fatalf("status codes %v, want one 204 and %d 412", got, n-1)
	}
}

// An object the provider sent that cannot be parsed is kept raw by the
// mirror; the endpoint serves it byte for byte and lists it, and a
// calendar-query (which must parse) leaves it out instead of failing.
func TestAnUnreadableObjectIsServedRawAndSkippedByQueries(t *testing.T) {
	e := newEnv(t)
	e.seed(t, "work", 1)
	e.sync(t)
	cals, _ := e.db.Calendars(context.Background(), account)
	junk := []byte("BEGIN:VCALENDAR\r\nthis is not \x00 iCalendar <&>\r\n")
	err := e.db.Write(context.Background(), func(tx *store.Tx) error {
		_, err := tx.StoreServerObject(context.Background(), cals[0].ID, cals[0].Href+"junk.ics", `"x"`, junk, calsync.Fields(junk))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	cal := e.calendarURL(t, "work")
	if resp, body := do(t, "GET", cal+"junk.ics", ""); resp.StatusCode != 200 || body != string(junk) {
		t.Fatalf("GET: %d %q", resp.StatusCode, body)
	}
	resp, body := do(t, "PROPFIND", cal, `<d:propfind xmlns:d="DAV:"><d:prop><d:getetag/><c:calendar-data xmlns:c="urn:ietf:params:xml:ns:caldav"/></d:prop></d:propfind>`, "Depth", "1", "Content-Type", "application/xml")
	if resp.StatusCode != http.StatusMultiStatus || !strings.Contains(body, "junk.ics") || !strings.Contains(body, "this is not \uFFFD iCalendar &lt;&amp;&gt;") {
		t.Fatalf("PROPFIND: %d %s", resp.StatusCode, body)
	}
	if err := xml.Unmarshal([]byte(body), new(struct{})); err != nil {
		t.Fatalf("PROPFIND answer is not XML: %v", err)
	}
	resp, body = do(t, "REPORT", cal, `<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"/></c:comp-filter></c:filter></c:calendar-query>`, "Content-Type", "application/xml")
	if resp.StatusCode != http.StatusMultiStatus || strings.Contains(body, "junk.ics") || !strings.Contains(body, "work-0@test.ics") {
		t.Fatalf("calendar-query: %d %s", resp.StatusCode, body)
	}
}

// On an address other than loopback, without TLS, the password would
// cross the network in clear text: every login is refused, the right
// password included.
func TestAListenerOffLoopbackWithoutTLSRefusesEveryLogin(t *testing.T) {
	ln, db := offLoopback(t)
	srv := caldavd.New(caldavd.Options{DB: db, Auth: locallogin.Static(map[string]locallogin.Login{localUser: {Account: account, Password: func(context.Context) (string, error) { return localPass, nil }}})})
	go srv.Serve(ln)
	defer srv.Close()
	resp, body := do(t, "PROPFIND", "http://"+ln.Addr().String()+"/work/", "")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "clear text") {
		t.Fatalf("the right password off loopback without TLS: %d %s", resp.StatusCode, body)
	}
}

// With a certificate the same listener serves HTTPS, and the login works.
func TestAListenerOffLoopbackWithTLSServesLogins(t *testing.T) {
	ln, db := offLoopback(t)
	cert, pool := testenv.SelfSigned(t)
	srv := caldavd.New(caldavd.Options{DB: db, TLSConfig: &tls.Config{Certificates: []tls.Certificate{*cert}},
		Auth: locallogin.Static(map[string]locallogin.Login{localUser: {Account: account, Password: func(context.Context) (string, error) { return localPass, nil }}})})
	go srv.Serve(ln)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost"}}}
	req, _ := http.NewRequest("PROPFIND", "https://"+ln.Addr().String()+"/work/calendars/", nil)
	req.SetBasicAuth(localUser, localPass)
	req.Header.Set("Depth", "1")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus {
		t.Fatalf("PROPFIND over TLS: %d", resp.StatusCode)
	}
}

// offLoopback listens on an address of this machine other than loopback
// (the test is skipped where there is none) and opens an empty store.
func offLoopback(t *testing.T) (net.Listener, *store.DB) {
	t.Helper()
	var ip net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			ip = n.IP
			break
		}
	}
	if ip == nil {
		t.Skip("this machine has no address other than loopback")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return ln, db
}
