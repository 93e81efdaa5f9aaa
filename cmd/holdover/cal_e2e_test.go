package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/caldav"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
)

// calSetup starts Radicale with a "work" calendar of a few events on
// 2026-12-01 and writes a config that mirrors it through a fault proxy.
func calSetup(t *testing.T) (r *testenv.Radicale, proxy *faultproxy.Proxy, cfgPath string, env []string) {
	t.Helper()
	r = testenv.StartRadicale(t)
	dir := r.CalendarDir(t, "work")
	for i := 0; i < 3; i++ {
		uid := fmt.Sprintf("seed-%d@test", i)
		ics := fmt.Sprintf("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:%s\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:202612%02dT090000Z\r\nDTEND:202612%02dT100000Z\r\nSUMMARY:Seeded %d\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n", uid, i+1, i+1, i)
		if err := os.WriteFile(filepath.Join(dir, uid+".ics"), []byte(ics), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if proxy, err = faultproxy.New(strings.TrimSuffix(strings.TrimPrefix(r.URL, "http://"), "/")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	d := t.TempDir()
	cfgPath = filepath.Join(d, "config.yaml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`data_dir: %s/data
listen: {http: "", smtp: ""}
accounts:
  - name: work
    calendar:
      caldav: {url: "http://127.0.0.1:%d/%s/", username: %s, password_env: CAL_PW}
`, d, proxy.Port(), r.User, r.User)), 0o600)
	return r, proxy, cfgPath, []string{"CAL_PW=" + r.Password}
}

// The calendar story end to end, through the binary: mirror, the server
// away, add/edit/delete offline with `cal ls` still answering, then the
// daemon replays each change once when the server is back.
func TestCalendarWorksOfflineAndConvergesAfterward(t *testing.T) {
	r, proxy, cfg, env := calSetup(t)
	run := func(args ...string) (int, string, string) {
		return runBin(t, env, append([]string{"--config", cfg}, args...)...)
	}
	if code, out, stderr := run("sync", "--once"); code != 0 || !strings.Contains(out, "calendar 3 fetched") {
		t.Fatalf("sync --once: exit %d\n%s%s", code, out, stderr)
	}
	proxy.Down() // the provider is gone; everything below is local

	type occ struct {
		ID      int64
		Summary string
		Start   time.Time
		AllDay  bool `json:"all_day"`
	}
	ls := func() []occ {
		t.Helper()
		code, out, stderr := run("cal", "ls", "--from", "2026-12-01", "--to", "2026-12-08", "--json")
		var got []occ
		if code != 0 || json.Unmarshal([]byte(out), &got) != nil {
			t.Fatalf("cal ls: exit %d\n%s%s", code, out, stderr)
		}
		return got
	}
	before := ls()
	if len(before) != 3 || before[0].Summary != "Seeded 0" {
		t.Fatalf("cal ls with the server away = %+v", before)
	}
	code, out, stderr := run("cal", "add", "--calendar", "work", "--summary", "Offline planning", "--start", "2026-12-04T10:00:00Z", "--end", "2026-12-04T11:00:00Z")
	if code != 0 || !strings.Contains(out, "created event") {
		t.Fatalf("cal add: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := run("cal", "edit", fmt.Sprint(before[1].ID), "--summary", "Renamed offline"); code != 0 {
		t.Fatalf("cal edit: exit %d\n%s%s", code, out, stderr)
	}
	if code, out, stderr := run("cal", "delete", fmt.Sprint(before[2].ID)); code != 0 {
		t.Fatalf("cal delete: exit %d\n%s%s", code, out, stderr)
	}
	// Bad input is refused before anything is queued.
	for _, bad := range [][]string{
		{"cal", "add", "--calendar", "work", "--summary", "x", "--start", "2026-12-04 11:00", "--end", "2026-12-04 10:00"},
		{"cal", "add", "--calendar", "nope", "--summary", "x", "--start", "2026-12-04 10:00", "--end", "2026-12-04 11:00"},
		{"cal", "add", "--calendar", "work", "--summary", "x", "--start", "2026-12-04 10:00", "--end", "2026-12-04 11:00", "--rrule", "FREQ=SOMETIMES"},
		{"cal", "add", "--calendar", "work", "--summary", "x", "--start", "tomorrow-ish"},
	} {
		if code, _, stderr := run(bad...); code == 0 || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, want a one-line error: %q", bad[2:], code, stderr)
		}
	}
	after := ls()
	var summaries []string
	for _, o := range after {
		summaries = append(summaries, o.Summary)
	}
	if got := strings.Join(summaries, "|"); got != "Seeded 0|Renamed offline|Offline planning" {
		t.Fatalf("local view after offline changes: %s", got)
	}
	rows := outboxJSONRows(t, env, cfg)
	if len(rows) != 3 {
		t.Fatalf("outbox = %+v, want 3 queued", rows)
	}

	proxy.Up()
	p := startDaemon(t, env, "--config", cfg)
	waitFor(t, "the queue to drain", func() bool {
		for _, r := range outboxJSONRows(t, env, cfg) {
			if r.State != "done" {
				return false
			}
		}
		return true
	})
	p.cmd.Process.Signal(os.Interrupt)
	p.waitExit(t)

	c, err := caldav.New(caldav.Config{URL: r.URL + r.User + "/", Username: r.User, Password: func(context.Context) (string, error) { return r.Password, nil }})
	if err != nil {
		t.Fatal(err)
	}
	refs, err := c.ETags(context.Background(), "/"+r.User+"/work/")
	if err != nil {
		t.Fatal(err)
	}
	var server []string
	for _, ref := range refs {
		o, err := c.Get(context.Background(), ref.Href)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(o.Data), "\n") {
			if s, ok := strings.CutPrefix(strings.TrimSpace(line), "SUMMARY:"); ok {
				server = append(server, s)
			}
		}
	}
	if got := strings.Join(slices.Sorted(slices.Values(server)), "|"); got != "Offline planning|Renamed offline|Seeded 0" {
		t.Fatalf("server after the replay: %s\n%s", got, p.log())
	}
	if code, out, _ := run("status"); code != 0 || !strings.Contains(out, "caldav") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
}

func outboxJSONRows(t *testing.T, env []string, cfg string) []outboxJSON {
	t.Helper()
	code, out, stderr := runBin(t, env, "--config", cfg, "outbox", "ls", "--json")
	var rows []outboxJSON
	if code != 0 || json.Unmarshal([]byte(out), &rows) != nil {
		t.Fatalf("outbox ls: exit %d %s %s", code, out, stderr)
	}
	return rows
}
