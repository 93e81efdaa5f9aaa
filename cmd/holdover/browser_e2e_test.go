package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
)

// phoneWidth is the viewport the whole browser test runs in: the page
// must be usable on a phone.
const phoneWidth = 375

// browserSetup is a daemon syncing mail with Dovecot and files with
// Apache, each through a fault proxy, with its status page on listen.http.
type browserSetup struct {
	*filesSetup
	mailProxy *faultproxy.Proxy
	addr      string // listen.http
	token     string // <data_dir>/api-token
}

func newBrowserSetup(t *testing.T) *browserSetup {
	t.Helper()
	d := testenv.StartDovecot(t)
	testenv.Append(t, d.Client(t), "INBOX", []byte("From: Alice <alice@example.com>\r\nTo: me@example.com\r\nSubject: Budget\r\nMessage-ID: <budget@example.com>\r\n\r\nThe numbers.\r\n"), time.Time{})
	s := &browserSetup{filesSetup: newFilesSetup(t), addr: freeAddr(t)}
	var err error
	if s.mailProxy, err = faultproxy.New(d.Addr()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.mailProxy.Close() })
	dir := filepath.Dir(s.cfg)
	os.WriteFile(s.cfg, []byte(fmt.Sprintf(`data_dir: %s/data
listen: {http: "%s", smtp: ""}
accounts:
  - name: work
    mail:
      imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: IMAP_PW}
    files:
      webdav: {url: "http://127.0.0.1:%d/dav/", username: %s, password_env: DAV_PW}
      local_dir: %s
      poll: 10s
`, dir, s.addr, s.mailProxy.Port(), d.User, s.proxy.Port(), s.apache.User, s.dir)), 0o600)
	s.env = append(s.env, "IMAP_PW="+d.Password)
	return s
}

// api sends a request to listen.http with header (bearer() for the
// token) and returns the status and body.
func (s *browserSetup) api(t *testing.T, method, path string, header http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+s.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *browserSetup) bearer() http.Header {
	return http.Header{"Authorization": {"Bearer " + s.token}}
}

// browser is a headless Chromium with one tab, at phone width.
type browser struct {
	t   *testing.T
	ctx context.Context
}

// startBrowser starts Debian's chromium with a fresh profile. It is
// closed, and every process it started gone, before the test's temporary
// directories are removed.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	exe := testenv.Chromium(t)
	profile := t.TempDir()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.NoSandbox, // the tests run as root in CI
		chromedp.DisableGPU,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(phoneWidth, 800),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(func() {
		chromedp.Cancel(ctx) // closes the browser and waits for it
		cancelTab()
		cancelAlloc()
		killProfileLeftovers(t, profile)
	})
	// The first action starts the browser, which lives as long as its
	// context: this one has no timeout.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(phoneWidth, 800, chromedp.EmulateMobile)); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return &browser{t: t, ctx: ctx}
}

// killProfileLeftovers ends, by PID, any process still running with
// profile as its user data dir (a Chromium helper can outlive the browser
// for a moment and write into the directory as it is removed).
func killProfileLeftovers(t *testing.T, profile string) {
	want := []byte("--user-data-dir=" + profile + "\x00")
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		entries, _ := os.ReadDir("/proc")
		found := 0
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			if err == nil && strings.Contains(string(cmdline), string(want)) {
				found++
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if found == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("chromium processes of %s still running", profile)
}

// do runs actions, each step bounded so a stuck browser fails the test
// quickly.
func (b *browser) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// screenshot saves the tab as <name>.png in $HOLDOVER_SCREENSHOTS, when
// set: a person can look at what the test saw.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	dir := os.Getenv("HOLDOVER_SCREENSHOTS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// pageView is what the status page shows, read from its DOM.
type pageView struct {
	URL      string `json:"url"`
	Body     string `json:"body"`
	Message  string `json:"message"`
	Services map[string]struct {
		Class string `json:"class"`
		Text  string `json:"text"`
	} `json:"services"`
	Queue   string `json:"queue"`
	Actions []struct {
		ID    int64  `json:"id"`
		Kind  string `json:"kind"`
		State string `json:"state"`
		Text  string `json:"text"`
	} `json:"actions"`
	Outages []struct {
		Service string `json:"service"`
		Class   string `json:"class"`
		Text    string `json:"text"`
	} `json:"outages"`
	Conflicts []struct {
		ID   string `json:"id"`
		Text string `json:"text"`
	} `json:"conflicts"`
	ScrollWidth int `json:"scrollWidth"`
	Buttons     []struct {
		Text    string  `json:"text"`
		Left    float64 `json:"left"`
		Right   float64 `json:"right"`
		Width   float64 `json:"width"`
		Height  float64 `json:"height"`
		Visible bool    `json:"visible"`
	} `json:"buttons"`
}

const readPage = `(() => {
  const q = (s) => [...document.querySelectorAll(s)];
  const text = (e) => e ? e.innerText.replace(/\s+/g, " ").trim() : "";
  return {
    url: location.href,
    body: text(document.body),
    message: text(document.getElementById("msg")),
    services: Object.fromEntries(q("#account-work li.svc").map((li) => [li.dataset.service, {class: li.className, text: text(li)}])),
    queue: text(document.querySelector("#account-work .queue")),
    actions: q("#outbox tr.action").map((tr) => ({id: Number(tr.dataset.id), kind: tr.dataset.kind, state: tr.children[1].firstChild.textContent.trim(), text: text(tr)})),
    outages: q("#outages tr.outage").map((tr) => ({service: tr.dataset.service, class: tr.className, text: text(tr)})),
    conflicts: q("#conflicts .conflict").map((c) => ({id: c.id, text: text(c)})),
    scrollWidth: document.documentElement.scrollWidth,
    buttons: q("button").map((b) => {
      const r = b.getBoundingClientRect();
      const st = getComputedStyle(b);
      return {text: text(b), left: r.left, right: r.right, width: r.width, height: r.height,
        visible: st.visibility !== "hidden" && st.display !== "none" && b.offsetParent !== null};
    }),
  };
})()`

// read returns what the page in the tab shows now, and checks the phone
// layout: nothing wider than the screen, every button on it.
func (b *browser) read() pageView {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS("footer"))); err != nil {
		b.t.Fatalf("browser: the page did not load: %v", err)
	}
	v, err := chromedp.Run(ctx, chromedp.Evaluate[pageView](readPage))
	if err != nil {
		b.t.Fatalf("browser: read the page: %v", err)
	}
	if v.ScrollWidth > phoneWidth {
		b.t.Errorf("the page is %d px wide on a %d px screen (it scrolls sideways)\n%s", v.ScrollWidth, phoneWidth, v.Body)
	}
	for _, btn := range v.Buttons {
		if !btn.Visible || btn.Width <= 0 || btn.Height <= 0 || btn.Left < 0 || btn.Right > phoneWidth {
			b.t.Errorf("button %q is not fully on a %d px screen: %+v", btn.Text, phoneWidth, btn)
		}
	}
	return v
}

// waitPage reloads the page until it shows what cond wants (a person
// reloading, or the page's own refresh) and returns that view.
func (b *browser) waitPage(home, what string, cond func(pageView) bool) pageView {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		b.do(chromedp.Navigate(home))
		v := b.read()
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the page never showed %s; it shows:\n%s", what, v.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// click clicks the button that posts to path, as a person does, and
// returns the status the API answered the page; after a success it waits
// for the page's reload.
func (b *browser) click(sel, path string) int64 {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	loads := chromedp.Events(ctx, page.LoadEventFired)
	b.do(chromedp.WaitVisible(chromedp.CSS(sel)))
	resp, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived,
		func(e network.EventResponseReceived) bool { return strings.Contains(e.Response.URL, path) },
		chromedp.Click(chromedp.CSS(sel))))
	if err != nil {
		b.t.Fatalf("browser: click %s: %v", sel, err)
	}
	if resp.Response.Status != http.StatusOK {
		return resp.Response.Status
	}
	for _, err := range loads {
		if err != nil {
			b.t.Fatalf("browser: the page did not reload after %s: %v", sel, err)
		}
		break
	}
	return resp.Response.Status
}

func (s *browserSetup) service(v pageView, svc string) string {
	return v.Services[svc].Class + ": " + v.Services[svc].Text
}

var countsWords = regexp.MustCompile(`(\d+) queued, (\d+) replayed$`)

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// serviceOfKind is the service that replays an action kind.
func serviceOfKind(kind string) string {
	if strings.HasPrefix(kind, "file.") {
		return "webdav"
	}
	return "imap"
}

func up(v pageView, svc string) bool {
	return strings.HasSuffix(v.Services[svc].Class, " up")
}

func down(v pageView, svc string) bool {
	return strings.HasSuffix(v.Services[svc].Class, " down") && strings.Contains(v.Services[svc].Text, "down since")
}

const syncNow = `button[data-post="/api/v1/sync-now"]`

var failedWord = regexp.MustCompile(`(?i)\bfail(ed|ing|s|ure)?\b`)

// A person follows an outage on the status page in a real browser, on a
// phone-sized screen: sign in with the one-time link, both providers up;
// both go away and the queued changes read as waiting; they come back,
// the outages close with their counts, and the file edited on both sides
// meanwhile is decided with a click, which the API then reports. Access
// without the token, and a POST from another origin, are refused.
func TestStatusPageInABrowserThroughAnOutage(t *testing.T) {
	s := newBrowserSetup(t)
	b := startBrowser(t)
	s.putRemote(t, "report.txt", "report v1")
	startDaemon(t, s.env, "--config", s.cfg)
	tok, err := os.ReadFile(filepath.Join(filepath.Dir(s.cfg), "data", "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	s.token = strings.TrimSpace(string(tok))
	home := "http://" + s.addr + "/"

	// Without the token or a session: 401, nothing said about why.
	for _, h := range []http.Header{nil, {"Authorization": {"Bearer wrong"}}, {"Accept": {"text/html"}}} {
		for _, path := range []string{"/api/v1/status", "/", "/metrics"} {
			if code, body := s.api(t, "GET", path, h); code != http.StatusUnauthorized || strings.Contains(body, `"accounts"`) || strings.Contains(body, "holdover_") {
				t.Errorf("GET %s with %v = %d %s, want 401", path, h, code, body)
			}
		}
	}
	if code, _ := s.api(t, "POST", "/api/v1/sync-now", nil); code != http.StatusUnauthorized {
		t.Errorf("POST /api/v1/sync-now without a token = %d, want 401", code)
	}

	// Sign in with the link `holdover open --print` prints; it works once.
	code, out, stderr := s.run(t, "open", "--print")
	login := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(login, "http://"+s.addr+"/login?code=") {
		t.Fatalf("open --print: exit %d %q %s", code, out, stderr)
	}
	b.do(chromedp.Navigate(login))
	if v := b.read(); v.URL != home || !strings.Contains(v.Body, "holdover") {
		t.Fatalf("after the sign-in link the browser is at %s:\n%s", v.URL, v.Body)
	}
	if code, _ := s.api(t, "GET", strings.TrimPrefix(login, "http://"+s.addr), nil); code != http.StatusUnauthorized {
		t.Errorf("the sign-in link worked twice: %d", code)
	}

	b.waitPage(home, "mail and files up", func(v pageView) bool { return up(v, "imap") && up(v, "webdav") })
	b.screenshot("1-up")
	waitFor(t, "the server's file in the folder", func() bool { got, _ := s.local("report.txt"); return got == "report v1" })
	code, out, _ = s.run(t, "mail", "ls", "--json")
	var msgs []messageJSON
	if code != 0 || json.Unmarshal([]byte(out), &msgs) != nil || len(msgs) != 1 {
		t.Fatalf("mail ls: exit %d\n%s", code, out)
	}

	// The outage: both providers go away. "Sync now" makes the daemon try
	// at once instead of on its backoff.
	s.mailProxy.Down()
	s.proxy.Down()
	v := b.waitPage(home, "mail and files down", func(v pageView) bool {
		if down(v, "imap") && down(v, "webdav") {
			return true
		}
		b.click(syncNow, "/api/v1/sync-now")
		return false
	})
	if code, out, stderr := s.run(t, "mail", "flag", strconv.FormatInt(msgs[0].ID, 10), "+seen"); code != 0 {
		t.Fatalf("mail flag: exit %d %s %s", code, out, stderr)
	}
	os.WriteFile(filepath.Join(s.dir, "report.txt"), []byte("report v2, written offline"), 0o644)
	s.putRemote(t, "report.txt", "report v2 from the phone, during the outage")

	v = b.waitPage(home, "the flag and the file edit queued and waiting", func(v pageView) bool {
		waiting := map[string]string{}
		for _, a := range v.Actions {
			if a.State == apiv1.WordsWaiting {
				waiting[a.Kind] = a.Text
			}
		}
		return strings.HasPrefix(waiting["mail.flags"], "flag change") && strings.HasPrefix(waiting["file.put"], "upload: report.txt") &&
			strings.Contains(v.Queue, "2 waiting")
	})
	b.screenshot("2-outage")
	if failedWord.MatchString(v.Body) {
		t.Errorf("during the outage the page says something failed:\n%s", v.Body)
	}
	// The file edit may reach the queue as more than one upload (the
	// watcher can see the write twice); each is counted.
	queued := map[string]int{}
	for _, a := range v.Actions {
		queued[serviceOfKind(a.Kind)]++
	}
	for _, svc := range []string{"imap", "webdav"} {
		if want := fmt.Sprintf("%d queued during this outage", queued[svc]); !strings.Contains(v.Services[svc].Text, want) {
			t.Errorf("%s: want %q: %s", svc, want, s.service(v, svc))
		}
	}
	if n := strings.Count(v.Body, "(ongoing)"); n != 2 {
		t.Errorf("recent outages show %d ongoing, want 2:\n%s", n, v.Body)
	}
	var flagID int64
	for _, a := range v.Actions {
		if a.Kind == "mail.flags" {
			flagID = a.ID
		}
	}

	// Another origin's page tries to cancel the queued flag with the
	// browser's session: refused, and the action still waits.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><title>evil</title><script>
fetch("http://%s/api/v1/outbox/%d/cancel", {method: "POST", mode: "no-cors", credentials: "include"})
  .finally(() => { document.title = "sent"; });
</script>`, s.addr, flagID)
	}))
	defer evil.Close()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	resp, err := chromedp.Run(ctx, chromedp.WaitEvent(network.ResponseReceived,
		func(e network.EventResponseReceived) bool { return strings.HasSuffix(e.Response.URL, "/cancel") },
		chromedp.Navigate(evil.URL)))
	cancel()
	if err != nil {
		t.Fatalf("the other origin's request: %v", err)
	}
	if resp.Response.Status != http.StatusForbidden {
		t.Errorf("a POST from another origin with the session = %d, want 403", resp.Response.Status)
	}
	for _, origin := range []string{"http://evil.example", "null"} {
		h := s.bearer()
		h.Set("Origin", origin)
		if code, body := s.api(t, "POST", fmt.Sprintf("/api/v1/outbox/%d/cancel", flagID), h); code != http.StatusForbidden {
			t.Errorf("POST with Origin %s = %d %s, want 403", origin, code, body)
		}
	}
	var actions []apiv1.Action
	code, body := s.api(t, "GET", "/api/v1/outbox?open=1", s.bearer())
	if code != 200 || json.Unmarshal([]byte(body), &actions) != nil {
		t.Fatalf("GET /api/v1/outbox = %d %s", code, body)
	}
	for _, a := range actions {
		if a.ID == flagID && a.State == "cancelled" {
			t.Fatalf("a cross-origin POST cancelled action %d", flagID)
		}
	}

	// The providers are back: a click on "Sync now", and the page shows
	// both up, the outages closed with what was queued and replayed, and
	// the file changed on both sides waiting for a decision.
	s.mailProxy.Up()
	s.proxy.Up()
	b.do(chromedp.Navigate(home))
	if code := b.click(syncNow, "/api/v1/sync-now"); code != http.StatusOK {
		t.Errorf("sync now with the providers back = %d", code)
	}
	v = b.waitPage(home, "the outages closed with their counts and a file conflict", func(v pageView) bool {
		// Every action queued in an outage is replayed after it: the
		// flag, and for files the upload (and the conflict copy's upload
		// when the replay made one before the outage was closed).
		closed := map[string]bool{}
		for _, o := range v.Outages {
			m := countsWords.FindStringSubmatch(o.Text)
			if m == nil || !strings.Contains(o.Class, "closed") {
				continue
			}
			n, replayed := atoi(m[1]), atoi(m[2])
			closed[o.Service] = replayed == n && (n == queued[o.Service] || o.Service == "webdav" && n > queued[o.Service])
		}
		return up(v, "imap") && up(v, "webdav") && closed["imap"] && closed["webdav"] && len(v.Outages) == 2 &&
			len(v.Conflicts) == 1 && strings.Contains(v.Queue, "empty")
	})
	b.screenshot("3-back-with-a-conflict")
	if !strings.Contains(v.Conflicts[0].Text, "report") {
		t.Errorf("the conflict does not name the file: %s", v.Conflicts[0].Text)
	}
	conflictID := strings.TrimPrefix(v.Conflicts[0].ID, "conflict-")

	// Decide it with a click: keep mine.
	if code := b.click("#"+v.Conflicts[0].ID+` button[data-take="local"]`, "/api/v1/conflicts/"+conflictID+"/resolve?take=local"); code != http.StatusOK {
		t.Fatalf("resolve by click = %d", code)
	}
	v = b.waitPage(home, "the conflict gone", func(v pageView) bool { return len(v.Conflicts) == 0 })
	b.screenshot("4-resolved")
	if v.Message != "" && v.Message != "Done." {
		t.Errorf("after the click the page says %q", v.Message)
	}
	var conflicts []apiv1.Conflict
	if code, body := s.api(t, "GET", "/api/v1/conflicts", s.bearer()); code != 200 || json.Unmarshal([]byte(body), &conflicts) != nil || len(conflicts) != 0 {
		t.Errorf("open conflicts after the click: %d %s", code, body)
	}
	code, body = s.api(t, "GET", "/api/v1/conflicts?all=1", s.bearer())
	if code != 200 || json.Unmarshal([]byte(body), &conflicts) != nil || len(conflicts) != 1 {
		t.Fatalf("GET /api/v1/conflicts?all=1 = %d %s", code, body)
	}
	if c := conflicts[0]; strconv.FormatInt(c.ID, 10) != conflictID || c.Resolution != "local" || c.ResolvedAt == nil {
		t.Errorf("the API's conflict after the click: %+v", c)
	}
	waitFor(t, "my version on the server", func() bool {
		got, _ := s.remote("report.txt")
		return got == "report v2, written offline"
	})
}
