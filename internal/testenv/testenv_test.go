package testenv

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// imapConn is a minimal raw IMAP client for the smoke test: it sends tagged
// commands and collects the lines up to the tagged response.
type imapConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dialIMAP(t *testing.T, addr string) *imapConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	ic := &imapConn{t: t, c: c, br: bufio.NewReader(c)}
	if greet := ic.line(); !strings.HasPrefix(greet, "* OK") {
		t.Fatalf("greeting = %q, want * OK", greet)
	}
	return ic
}

func (ic *imapConn) line() string {
	ic.t.Helper()
	l, err := ic.br.ReadString('\n')
	if err != nil {
		ic.t.Fatalf("read: %v (partial %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// cmd sends "tag command" and returns the untagged lines; the tagged
// response must be OK.
func (ic *imapConn) cmd(tag, command string) []string {
	ic.t.Helper()
	if _, err := fmt.Fprintf(ic.c, "%s %s\r\n", tag, command); err != nil {
		ic.t.Fatalf("write: %v", err)
	}
	return ic.until(tag)
}

func (ic *imapConn) until(tag string) []string {
	ic.t.Helper()
	var lines []string
	for {
		l := ic.line()
		if strings.HasPrefix(l, tag+" ") {
			if !strings.HasPrefix(l, tag+" OK") {
				ic.t.Fatalf("%s failed: %q (untagged: %q)", tag, l, lines)
			}
			return lines
		}
		lines = append(lines, l)
	}
}

func TestDovecotSmoke(t *testing.T) {
	d := StartDovecot(t)
	if d.Host != "127.0.0.1" || d.Port == 0 || d.User == "" || d.Password == "" {
		t.Fatalf("bad Dovecot fields: %+v", d)
	}
	ic := dialIMAP(t, d.Addr())
	ic.cmd("a", fmt.Sprintf("LOGIN %s %s", d.User, d.Password))

	caps := strings.Join(ic.cmd("b", "CAPABILITY"), " ")
	for _, want := range []string{"CONDSTORE", "QRESYNC", "IDLE", "MOVE", "UIDPLUS", "SPECIAL-USE"} {
		if !strings.Contains(caps, " "+want) {
			t.Errorf("CAPABILITY lacks %s: %s", want, caps)
		}
	}

	list := ic.cmd("c", `LIST "" "*"`)
	for _, want := range []struct{ box, flag string }{
		{"Sent", `\Sent`}, {"Drafts", `\Drafts`}, {"Trash", `\Trash`}, {"Junk", `\Junk`}, {"Archive", `\Archive`},
	} {
		found := false
		for _, l := range list {
			if strings.HasSuffix(l, " "+want.box) && strings.Contains(l, want.flag) {
				found = true
			}
		}
		if !found {
			t.Errorf("LIST lacks %s with %s: %q", want.box, want.flag, list)
		}
	}

	msg := "From: a@example.org\r\nTo: b@example.org\r\nSubject: smoke\r\n\r\nhello\r\n"
	if _, err := fmt.Fprintf(ic.c, "d APPEND INBOX {%d}\r\n", len(msg)); err != nil {
		t.Fatal(err)
	}
	if l := ic.line(); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND continuation = %q", l)
	}
	if _, err := io.WriteString(ic.c, msg+"\r\n"); err != nil {
		t.Fatal(err)
	}
	ic.until("d")

	sel := ic.cmd("e", "SELECT INBOX (CONDSTORE)")
	if !contains(sel, "* 1 EXISTS") {
		t.Errorf("SELECT INBOX = %q, want * 1 EXISTS", sel)
	}
	if !contains(sel, "HIGHESTMODSEQ") {
		t.Errorf("SELECT (CONDSTORE) = %q, want HIGHESTMODSEQ", sel)
	}
	ic.cmd("f", "LOGOUT")

	// The message is on disk in the advertised maildir.
	if ents, err := os.ReadDir(filepath.Join(d.MailDir, "new")); err != nil || len(ents) != 1 {
		if ents2, err2 := os.ReadDir(filepath.Join(d.MailDir, "cur")); err2 != nil || len(ents)+len(ents2) != 1 {
			t.Errorf("maildir %s: new=%d (%v) cur=%d (%v), want 1 message", d.MailDir, len(ents), err, len(ents2), err2)
		}
	}

	// A second user can log in at once.
	u2, p2 := d.AddUser(t, "second")
	ic2 := dialIMAP(t, d.Addr())
	ic2.cmd("a", fmt.Sprintf("LOGIN %s %s", u2, p2))
	ic2.cmd("b", "LOGOUT")
}

func contains(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// do sends one HTTP request and returns status, headers and body.
func do(t *testing.T, method, url, user, pass string, hdr map[string]string, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{Timeout: 30 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, url, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func expectStatus(t *testing.T, what string, got int, body string, want ...int) {
	t.Helper()
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Fatalf("%s: status %d, want %v; body: %.500s", what, got, want, body)
}

const propfindBody = `<?xml version="1.0" encoding="utf-8"?>
<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:getetag/></D:prop></D:propfind>`

func TestRadicaleSmoke(t *testing.T) {
	r := StartRadicale(t)
	if !strings.HasPrefix(r.URL, "http://127.0.0.1:") || !strings.HasSuffix(r.URL, "/") {
		t.Fatalf("bad URL %q", r.URL)
	}
	xml := map[string]string{"Content-Type": "application/xml; charset=utf-8", "Depth": "0"}

	st, _, body := do(t, "PROPFIND", r.URL, "", "", xml, propfindBody)
	expectStatus(t, "PROPFIND without auth", st, body, http.StatusUnauthorized)
	st, _, body = do(t, "PROPFIND", r.URL, r.User, "wrong", xml, propfindBody)
	expectStatus(t, "PROPFIND with a wrong password", st, body, http.StatusUnauthorized)
	st, _, body = do(t, "PROPFIND", r.URL, r.User, r.Password, xml, propfindBody)
	expectStatus(t, "PROPFIND with auth", st, body, http.StatusMultiStatus)

	cal := r.URL + r.User + "/smoke/"
	st, _, body = do(t, "MKCALENDAR", cal, r.User, r.Password, nil, "")
	expectStatus(t, "MKCALENDAR", st, body, http.StatusCreated)

	ics := "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//holdover//testenv//EN\r\n" +
		"BEGIN:VEVENT\r\nUID:smoke-1@holdover\r\nDTSTAMP:20240101T000000Z\r\n" +
		"DTSTART:20240102T100000Z\r\nDTEND:20240102T110000Z\r\nSUMMARY:smoke\r\n" +
		"END:VEVENT\r\nEND:VCALENDAR\r\n"
	st, hdr, body := do(t, "PUT", cal+"smoke-1.ics", r.User, r.Password,
		map[string]string{"Content-Type": "text/calendar; charset=utf-8"}, ics)
	expectStatus(t, "PUT event", st, body, http.StatusCreated)
	if hdr.Get("ETag") == "" {
		t.Errorf("PUT event: no ETag")
	}

	// The event is where StorageDir says, so tests can seed calendars on disk.
	if _, err := os.Stat(filepath.Join(r.StorageDir, r.User, "smoke", "smoke-1.ics")); err != nil {
		t.Errorf("event not in StorageDir: %v", err)
	}

	// A calendar seeded on disk is served as is.
	seeded := r.CalendarDir(t, "seeded")
	seededICS := strings.ReplaceAll(ics, "smoke-1@holdover", "seeded-1@holdover")
	if err := os.WriteFile(filepath.Join(seeded, "seeded-1.ics"), []byte(seededICS), 0o644); err != nil {
		t.Fatal(err)
	}
	st, _, body = do(t, "PROPFIND", r.URL+r.User+"/seeded/", r.User, r.Password,
		map[string]string{"Content-Type": "application/xml; charset=utf-8", "Depth": "1"}, propfindBody)
	expectStatus(t, "PROPFIND seeded calendar", st, body, http.StatusMultiStatus)
	if !strings.Contains(body, "seeded-1.ics") || !strings.Contains(body, "calendar") {
		t.Errorf("seeded calendar listing lacks the event or the calendar type: %.800s", body)
	}
	st, _, body = do(t, "GET", r.URL+r.User+"/seeded/seeded-1.ics", r.User, r.Password, nil, "")
	expectStatus(t, "GET seeded event", st, body, http.StatusOK)
	if !strings.Contains(body, "UID:seeded-1@holdover") {
		t.Errorf("GET seeded event = %.300s", body)
	}

	// owner_only: another user's collections are off limits.
	st, _, body = do(t, "PROPFIND", r.URL+"someoneelse/", r.User, r.Password, xml, propfindBody)
	expectStatus(t, "PROPFIND another user's home", st, body, http.StatusForbidden, http.StatusNotFound)
}

func TestApacheSmoke(t *testing.T) {
	a := StartApache(t)
	if !strings.HasPrefix(a.URL, "http://127.0.0.1:") || !strings.HasSuffix(a.URL, "/dav/") {
		t.Fatalf("bad URL %q", a.URL)
	}
	u, p := a.User, a.Password

	st, _, body := do(t, "GET", a.URL, "", "", nil, "")
	expectStatus(t, "GET without auth", st, body, http.StatusUnauthorized)
	st, _, body = do(t, "PUT", a.URL+"x.txt", u, "wrong", nil, "x")
	expectStatus(t, "PUT with a wrong password", st, body, http.StatusUnauthorized)

	st, _, body = do(t, "PUT", a.URL+"a.txt", u, p, nil, "version 1\n")
	expectStatus(t, "PUT new", st, body, http.StatusCreated)
	st, hdr, body := do(t, "GET", a.URL+"a.txt", u, p, nil, "")
	expectStatus(t, "GET", st, body, http.StatusOK)
	if body != "version 1\n" {
		t.Fatalf("GET body = %q", body)
	}
	etag := hdr.Get("ETag")
	if strings.HasPrefix(etag, "W/") {
		// Apache quirk: an ETag read within a second of the file's mtime is
		// weak, and If-Match compares strongly, so it never matches.
		st, _, body = do(t, "PUT", a.URL+"a.txt", u, p, map[string]string{"If-Match": etag}, "weak\n")
		expectStatus(t, "PUT with a weak If-Match", st, body, http.StatusPreconditionFailed)
		etag = strongETag(t, a.URL+"a.txt", u, p)
	}
	if etag == "" || strings.HasPrefix(etag, "W/") {
		t.Fatalf("GET ETag = %q, want a strong ETag", etag)
	}

	st, _, body = do(t, "PUT", a.URL+"a.txt", u, p, map[string]string{"If-Match": `"not-the-etag"`}, "version 2 (lost)\n")
	expectStatus(t, "PUT with a wrong If-Match", st, body, http.StatusPreconditionFailed)
	st, _, body = do(t, "PUT", a.URL+"a.txt", u, p, map[string]string{"If-Match": etag}, "version 2, longer\n")
	expectStatus(t, "PUT with the right If-Match", st, body, http.StatusOK, http.StatusCreated, http.StatusNoContent)
	st, _, body = do(t, "GET", a.URL+"a.txt", u, p, nil, "")
	expectStatus(t, "GET after update", st, body, http.StatusOK)
	if body != "version 2, longer\n" {
		t.Fatalf("after update: body %q", body)
	}
	if newTag := strongETag(t, a.URL+"a.txt", u, p); newTag == etag {
		t.Fatalf("ETag unchanged by update: %q", etag)
	}
	// The old ETag no longer matches.
	st, _, body = do(t, "PUT", a.URL+"a.txt", u, p, map[string]string{"If-Match": etag}, "stale\n")
	expectStatus(t, "PUT with a stale If-Match", st, body, http.StatusPreconditionFailed)

	st, _, body = do(t, "PROPFIND", a.URL, u, p,
		map[string]string{"Depth": "1", "Content-Type": "application/xml; charset=utf-8"}, propfindBody)
	expectStatus(t, "PROPFIND", st, body, http.StatusMultiStatus)
	if !strings.Contains(body, "a.txt") {
		t.Errorf("PROPFIND does not list a.txt: %.500s", body)
	}

	st, _, body = do(t, "MOVE", a.URL+"a.txt", u, p, map[string]string{"Destination": a.URL + "b.txt"}, "")
	expectStatus(t, "MOVE", st, body, http.StatusCreated, http.StatusNoContent)
	st, _, body = do(t, "GET", a.URL+"a.txt", u, p, nil, "")
	expectStatus(t, "GET moved-away", st, body, http.StatusNotFound)
	st, _, body = do(t, "GET", a.URL+"b.txt", u, p, nil, "")
	expectStatus(t, "GET moved-to", st, body, http.StatusOK)
	if _, err := os.Stat(filepath.Join(a.Root, "b.txt")); err != nil {
		t.Errorf("b.txt not under Root: %v", err)
	}
}

// strongETag GETs url until Apache returns a strong ETag, which it does
// once the file's mtime is over a second old.
func strongETag(t *testing.T, url, user, pass string) string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, hdr, body := do(t, "GET", url, user, pass, nil, "")
		expectStatus(t, "GET "+url, st, body, http.StatusOK)
		etag := hdr.Get("ETag")
		if !strings.HasPrefix(etag, "W/") || time.Now().After(deadline) {
			return etag
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestStartRetriesOnPortRace makes each server's first port already taken,
// as if another process grabbed it between pick and bind: the server must
// fail to bind, and Start must retry on a fresh port.
func TestStartRetriesOnPortRace(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start func(t *testing.T) string // returns the address served
	}{
		{"dovecot", func(t *testing.T) string { return StartDovecot(t).Addr() }},
		{"radicale", func(t *testing.T) string { return StartRadicale(t).URL }},
		{"apache", func(t *testing.T) string { return StartApache(t).URL }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			taken, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer taken.Close()
			takenPort := taken.Addr().(*net.TCPAddr).Port
			calls := 0
			pickPort = func(t testing.TB) int {
				calls++
				if calls == 1 {
					return takenPort
				}
				return freePort(t)
			}
			defer func() { pickPort = freePort }()

			addr := tc.start(t)
			if calls < 2 {
				t.Fatalf("port picked %d times, want a retry", calls)
			}
			if strings.Contains(addr, fmt.Sprintf(":%d", takenPort)) {
				t.Fatalf("served on the taken port: %s", addr)
			}
		})
	}
}

// recordingTB records Skipf/Fatalf instead of stopping the test.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Helper()                           {}
func (r *recordingTB) Skipf(format string, args ...any)  { r.skipped = fmt.Sprintf(format, args...) }
func (r *recordingTB) Fatalf(format string, args ...any) { r.fatal = fmt.Sprintf(format, args...) }

func TestRequire(t *testing.T) {
	if !Require(t, "sh") {
		t.Fatal("Require(sh) = false")
	}
	const missing = "holdover-no-such-server"

	t.Setenv("CI", "")
	r := &recordingTB{TB: t}
	if Require(r, missing) || r.fatal != "" || !strings.Contains(r.skipped, "SKIPPED: "+missing+" not installed; run scripts/install-test-deps.sh") {
		t.Errorf("outside CI: skipped=%q fatal=%q, want a loud skip", r.skipped, r.fatal)
	}

	t.Setenv("CI", "true")
	r = &recordingTB{TB: t}
	if Require(r, missing) || r.skipped != "" || !strings.Contains(r.fatal, missing) {
		t.Errorf("in CI: skipped=%q fatal=%q, want a failure", r.skipped, r.fatal)
	}
}

func TestDovecotStopAndRestartKeepMailAndPort(t *testing.T) {
	d := StartDovecot(t)
	d.Stop()
	if err := imapProbe(d.Port); err == nil {
		t.Fatal("stopped Dovecot still answers")
	}
	d.Restart(t)
	if err := imapProbe(d.Port); err != nil {
		t.Fatalf("restarted Dovecot does not answer: %v", err)
	}
}
