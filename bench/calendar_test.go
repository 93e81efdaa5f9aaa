//go:build linux

package bench

import (
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/testenv"
)

var (
	flagEvents  = flag.Int("events", 5000, "events in the generated calendars (about 10 % of them recurring)")
	flagEdits   = flag.Int("edits", 100, "server-side edits before each run of calendar step (c) (see -new for the new events)")
	flagRTT     = flag.Duration("rtt", 50*time.Millisecond, "round trip of the delayed link (half of it each way)")
	flagLsRuns  = flag.Int("ls-runs", 11, "runs of `cal ls` of a month")
	flagLsMonth = flag.String("ls-month", "2026-06", "the month `cal ls` lists (YYYY-MM)")
	flagLinks   = flag.String("links", "loopback,delayed", "links to measure, in order: loopback, delayed (-rtt), or both")
)

// Issue 10's goals.
const (
	goalInitial = 0.5 // (a) holdover's wall time against vdirsyncer's
	goalResync  = 0.1 // (b) and (c)
	goalLs      = 50 * time.Millisecond
	goalRSSKB   = 60 << 10
)

// TestCalendarBenchmark is issue 10's calendar benchmark: holdover against
// vdirsyncer on the same Radicale calendars, on loopback and over a
// delayed link. Run it with bench/calendar.sh [events].
func TestCalendarBenchmark(t *testing.T) {
	if os.Getenv("HOLDOVER_BENCH") != "1" {
		t.Skip("calendar benchmark: runs only with HOLDOVER_BENCH=1 (bench/calendar.sh sets it)")
	}
	haveVdir := true
	if _, err := exec.LookPath("vdirsyncer"); err != nil {
		msg := "vdirsyncer (Debian package vdirsyncer) not installed: apt-get install vdirsyncer (bench/calendar.sh does as root); holdover is measured alone"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s, and a missing vdirsyncer is a failure in CI (CI=true)", msg)
		}
		shout(t, msg)
		haveVdir = false
	}
	if gnuTime == "" {
		shout(t, "GNU time (Debian package time) not installed: apt-get install time; peak RSS is then only an upper bound (marked <=)")
	}
	lsFrom, err := time.Parse("2006-01", *flagLsMonth)
	if err != nil {
		t.Fatalf("-ls-month: %v", err)
	}
	var links []string
	for _, l := range strings.Split(*flagLinks, ",") {
		if l != "loopback" && l != "delayed" {
			t.Fatalf("-links: %q: want loopback or delayed", l)
		}
		links = append(links, l)
	}
	tmp := t.TempDir()
	built := make(chan error, 1)
	var bin string
	go func() {
		var err error
		if bin = *flagBin; bin == "" {
			bin, err = buildHoldover(tmp)
		}
		built <- err
	}()

	r := testenv.StartRadicale(t)
	dirs := map[string]string{}
	for _, c := range benchCalendars {
		dirs[c.Name] = r.CalendarDir(t, c.Name)
	}
	g := newCalGen(10)
	start := time.Now()
	events, genBytes, err := generateCalendars(g, dirs, *flagEvents)
	if err != nil {
		t.Fatal(err)
	}
	desc := describeEvents(events)
	t.Logf("generated %s, %.1f MB, in %v", desc, mb(genBytes), time.Since(start).Round(time.Millisecond))
	start = time.Now()
	warmRadicale(t, r, events)
	t.Logf("Radicale read the calendars in %v", time.Since(start).Round(time.Millisecond))
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	if *flagPerf != "" {
		if err := os.MkdirAll(*flagPerf, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	proxy, err := newDelayProxy(strings.TrimSuffix(strings.TrimPrefix(r.URL, "http://"), "/"), *flagRTT/2)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	rlog := &radicaleLog{path: r.LogFile}

	var tables []cmpTable
	var ls, lsBase []run
	var lsCheck string
	for _, link := range links {
		tb := cmpTable{link: "loopback", ref: "vdirsyncer"}
		port := portOf(t, r.URL)
		if link == "delayed" {
			tb.link, tb.delayed, port = fmt.Sprintf("%v RTT (delaying proxy)", *flagRTT), true, proxy.Port()
		}
		url := fmt.Sprintf("http://127.0.0.1:%d/%s/", port, r.User)
		var h *holdoverTool
		var v *vdirTool
		// step runs both tools in turn (holdover, vdirsyncer, holdover…),
		// so that noise hits both alike; reset, when set, runs before each
		// round.
		step := func(name string, runs int, reset func(i int), check func(hOut string), perf string) {
			row := cmpRow{name: name, goal: goalResync}
			if strings.HasPrefix(name, "(a)") {
				row.goal = goalInitial
			}
			for i := 0; i < runs; i++ {
				if reset != nil {
					reset(i)
				}
				if *flagPerf != "" && perf != "" && !tb.delayed && i == runs-1 {
					h.perfOut = filepath.Join(*flagPerf, perf)
				}
				proxy.Reset()
				rlog.skip()
				hr := h.sync(t)
				h.perfOut = ""
				row.h = append(row.h, toolRun{run: hr, dav: proxy.Reset(), srv: rlog.since()})
				check(hr.Output)
				if v != nil {
					vr := v.sync(t, strings.HasPrefix(name, "(a)"))
					row.v = append(row.v, toolRun{run: vr, dav: proxy.Reset(), srv: rlog.since()})
				}
			}
			t.Logf("%s, %s: holdover %s; wall %s; vdirsyncer wall %s", tb.link, name, summary(row.h[len(row.h)-1].Output, "calendar"),
				walls(row.runs(false)), walls(row.runs(true)))
			tb.rows = append(tb.rows, row)
		}
		fetched := func(want int) func(string) {
			return func(out string) {
				t.Helper()
				if !strings.Contains(out, fmt.Sprintf("bench: calendar %d fetched, 0 removed, 0 unreadable", want)) {
					t.Errorf("holdover did not fetch %d events: %s", want, summary(out, "calendar"))
				}
			}
		}

		n := len(events)
		step(fmt.Sprintf("(a) initial sync, %d events", n), *flagInitial, func(i int) {
			dir := filepath.Join(tmp, fmt.Sprintf("%s-initial-%d", link, i))
			h = newCalHoldover(t, bin, filepath.Join(dir, "holdover"), url, r)
			if haveVdir {
				v = newVdir(t, filepath.Join(dir, "vdirsyncer"), url, r)
			}
		}, fetched(n), "cal-a.perf")
		v.check(t, len(events))
		step("(b) no-op resync", *flagNoop, nil, fetched(0), "")
		if ls == nil {
			// cal ls of a month over the store of the initial sync: every
			// event generated, none edited yet.
			ls, lsBase, lsCheck = measureCalLs(t, h, events, lsFrom)
		}
		step(fmt.Sprintf("(c) %d edits + %d new", *flagEdits, *flagNew), *flagChange, func(i int) {
			events = applyCalChanges(t, g, dirs, events, *flagEdits, *flagNew, len(tables)*100+i+1)
			warmRadicale(t, r, events)
		}, fetched(*flagEdits+*flagNew), "cal-c.perf")
		v.check(t, len(events))
		tables = append(tables, tb)
	}

	fmt.Printf("\ncalendar benchmark: %s; Radicale %s; %s\n", desc, version("radicale", "--version"), vdirVersion(haveVdir))
	fmt.Printf("wall: min/median/max of the runs, holdover and vdirsyncer in turn; maxRSS: the largest of the runs; ratio: of the medians.\n")
	fmt.Printf("vdirsyncer's (a) is `discover` + `sync` (holdover's initial sync discovers too); its CalDAV side is read_only.\n")
	fmt.Printf("Noisy: 2 cores shared with other work, Radicale (Python) on the same cores as the tools.\n")
	for _, tb := range tables {
		fmt.Print(tb.String())
	}
	fmt.Printf("\n%-46s %-22s %-10s %s\n", "measure (TZ=UTC)", "wall min/median/max", "maxRSS", "result")
	fmt.Printf("%-46s %-22s %-10s %s\n", fmt.Sprintf("cal ls --json, %s (%d runs)", *flagLsMonth, len(ls)), minMedMax(ls), maxRSSCol(ls), lsCheck)
	fmt.Printf("%-46s %-22s %-10s %s\n", fmt.Sprintf("  for scale: cal calendars --json (%d runs)", len(lsBase)), minMedMax(lsBase), maxRSSCol(lsBase),
		"process start and opening the store, no events read")
	fmt.Print(calVerdicts(tables, ls))
}

// measureCalLs runs `holdover cal ls --json` of the month from over h's
// store -ls-runs times, and `cal calendars --json` as often for scale
// (the process and the store without the events). Then it lists every
// month of calYear once (not timed) and compares each listing with the
// occurrences the generator wrote (see calEvent.Occ): DST changes,
// overrides, EXDATEs, all-day and floating events included.
func measureCalLs(t *testing.T, h *holdoverTool, events []*calEvent, from time.Time) (ls, base []run, check string) {
	t.Helper()
	env := append(slices.Clone(h.env), "TZ=UTC")
	calLs := func(from time.Time) (run, []listedOcc) {
		lr := measure(t, env, h.bin, "--config", h.cfg, "cal", "ls", "--from", from.Format(time.DateOnly), "--to", from.AddDate(0, 1, 0).Format(time.DateOnly), "--json")
		var got []listedOcc
		if err := json.Unmarshal([]byte(lr.Output), &got); err != nil {
			t.Fatalf("cal ls --json: %v\n%.500s", err, lr.Output)
		}
		return lr, got
	}
	var got []listedOcc
	for i := 0; i < *flagLsRuns; i++ {
		var lr run
		lr, got = calLs(from)
		ls = append(ls, lr)
		base = append(base, measure(t, env, h.bin, "--config", h.cfg, "cal", "calendars", "--json"))
	}
	recurring, bad := compareOccurrences(t, events, from, got)
	check = fmt.Sprintf("%d occurrences (%d of recurring events) of %d events, as generated", len(got), recurring, len(events))
	if bad != "" {
		check = fmt.Sprintf("%d occurrences, WRONG: %s", len(got), bad)
	}
	var months []string
	for m := time.January; m <= time.December; m++ {
		from := time.Date(calYear, m, 1, 0, 0, 0, 0, time.UTC)
		_, got := calLs(from)
		if _, bad := compareOccurrences(t, events, from, got); bad != "" {
			months = append(months, from.Format("2006-01")+": "+bad)
		}
	}
	if len(months) == 0 {
		check += fmt.Sprintf("; every month of %d as generated", calYear)
	} else {
		check += fmt.Sprintf("; months listed WRONG: %s", strings.Join(months, "; "))
	}
	return ls, base, check
}

// listedOcc is an occurrence `cal ls --json` lists.
type listedOcc struct {
	UID   string
	Start time.Time
}

// compareOccurrences compares the occurrences listed for the month from
// with the generated events' and says what differs ("" when nothing).
func compareOccurrences(t *testing.T, events []*calEvent, from time.Time, got []listedOcc) (recurring int, bad string) {
	t.Helper()
	to := from.AddDate(0, 1, 0)
	want := map[string]int{}
	for _, e := range events {
		for _, o := range e.Occ {
			if o.Start.Before(to) && o.End.After(from) {
				want[e.UID+" "+o.Start.UTC().Format(time.RFC3339)]++
				if e.Recurring {
					recurring++
				}
			}
		}
	}
	var missing, extra []string
	for _, o := range got {
		k := o.UID + " " + o.Start.UTC().Format(time.RFC3339)
		if want[k] > 0 {
			want[k]--
		} else {
			extra = append(extra, k)
		}
	}
	for k, n := range want {
		for ; n > 0; n-- {
			missing = append(missing, k)
		}
	}
	if len(missing)+len(extra) == 0 {
		return recurring, ""
	}
	slices.Sort(missing)
	slices.Sort(extra)
	t.Errorf("cal ls of %s differs from the generated events: %d missing, %d extra\nmissing (first 20):\n  %s\nextra (first 20):\n  %s",
		from.Format("2006-01"), len(missing), len(extra), strings.Join(missing[:min(20, len(missing))], "\n  "), strings.Join(extra[:min(20, len(extra))], "\n  "))
	return recurring, fmt.Sprintf("%d missing, %d extra", len(missing), len(extra))
}

func calVerdicts(tables []cmpTable, ls []run) string {
	var b strings.Builder
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	goals := []struct {
		name  string
		limit float64
	}{{"(a) initial sync", goalInitial}, {"(b) no-op resync", goalResync}, {fmt.Sprintf("(c) %d edits + %d new", *flagEdits, *flagNew), goalResync}}
	for i, gl := range goals {
		var parts []string
		for _, tb := range tables {
			if i >= len(tb.rows) {
				continue
			}
			r := tb.rows[i]
			if len(r.v) == 0 {
				parts = append(parts, tb.link+": n/a (no vdirsyncer)")
				continue
			}
			parts = append(parts, fmt.Sprintf("%s: %s (%.3fx)", tb.link, verdict(r.ratio() <= gl.limit), r.ratio()))
		}
		fmt.Fprintf(&b, "verdict %s <= %.1fx vdirsyncer's wall time: %s\n", gl.name, gl.limit, strings.Join(parts, "; "))
	}
	lsMed := median(ls).Wall
	fmt.Fprintf(&b, "verdict cal ls of a month <= %v as a whole process: %s (median %.0f ms)\n", goalLs, verdict(lsMed <= goalLs),
		float64(lsMed)/float64(time.Millisecond))
	var maxKB int64
	what := ""
	for _, tb := range tables {
		for _, r := range tb.rows {
			for _, x := range r.h {
				if x.MaxRSSKB > maxKB {
					maxKB, what = x.MaxRSSKB, tb.link+", "+r.name
				}
			}
		}
	}
	for _, x := range ls {
		if x.MaxRSSKB > maxKB {
			maxKB, what = x.MaxRSSKB, "cal ls"
		}
	}
	fmt.Fprintf(&b, "verdict holdover peak RSS <= %d MB: %s (max %s, in %s)\n", goalRSSKB>>10, verdict(maxKB <= goalRSSKB), fmtRSS(maxKB), what)
	return b.String()
}

// describeEvents says what was generated.
func describeEvents(events []*calEvent) string {
	rec, over, tz := 0, 0, 0
	for _, e := range events {
		if e.Recurring {
			rec++
		}
		if e.Overrides > 0 {
			over++
		}
		if e.Zone != "" {
			tz++
		}
	}
	var cals []string
	for _, c := range benchCalendars {
		n := 0
		for _, e := range events {
			if e.Calendar == c.Name {
				n++
			}
		}
		cals = append(cals, fmt.Sprintf("%s %d", c.Name, n))
	}
	return fmt.Sprintf("%d events (%s; %d recurring, %d of them with RECURRENCE-ID overrides; %d with a TZID and VTIMEZONE)",
		len(events), strings.Join(cals, ", "), rec, over, tz)
}

// applyCalChanges edits nEdits distinct events and adds nNew new ones,
// writing the files into Radicale's storage, and returns all events.
func applyCalChanges(t *testing.T, g *calGen, dirs map[string]string, events []*calEvent, nEdits, nNew, round int) []*calEvent {
	t.Helper()
	now := genNow.Add(time.Duration(round) * time.Hour)
	for _, k := range g.r.Perm(len(events))[:min(nEdits, len(events))] {
		e := events[k]
		e.edit(round, now)
		if err := writeEvent(dirs[e.Calendar], e); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < nNew; i++ {
		e := g.event()
		if err := writeEvent(dirs[e.Calendar], e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	return events
}

// warmRadicale lists every calendar's ETags, then the calendars' ctags
// and sync-tokens (PROPFIND depth 1), as a server that has served the
// calendars for a while has done: Radicale then has every item in its
// cache and the current state's sync-token on disk, and neither tool
// pays for its first reading of the files. It checks that Radicale
// serves every event.
func warmRadicale(t *testing.T, r *testenv.Radicale, events []*calEvent) {
	t.Helper()
	want := map[string]int{}
	for _, e := range events {
		want[e.Calendar]++
	}
	for _, c := range benchCalendars {
		if got := propfindCount(t, r, c.Name+"/", "<getetag/>"); got != want[c.Name] {
			t.Fatalf("Radicale lists %d items in %s, want %d (see %s)", got, c.Name, want[c.Name], r.LogFile)
		}
	}
	if got := propfindCount(t, r, "", "<sync-token/><CS:getctag/>"); got != len(benchCalendars) {
		t.Fatalf("Radicale lists %d calendars, want %d (see %s)", got, len(benchCalendars), r.LogFile)
	}
}

// propfindCount PROPFINDs (depth 1) the user's collection path for props
// and counts the members.
func propfindCount(t *testing.T, r *testenv.Radicale, path, props string) int {
	t.Helper()
	req, err := http.NewRequest("PROPFIND", r.URL+r.User+"/"+path,
		strings.NewReader(`<?xml version="1.0" encoding="utf-8"?><propfind xmlns="DAV:" xmlns:CS="http://calendarserver.org/ns/"><prop>`+props+`</prop></propfind>`))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.User, r.Password)
	req.Header.Set("Depth", "1")
	req.Header.Set("Content-Type", "application/xml")
	client := &http.Client{Timeout: 5 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusMultiStatus {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1000))
		t.Fatalf("PROPFIND %s: %s\n%s", path, resp.Status, b)
	}
	n := -1 // the first response is the collection itself
	d := xml.NewDecoder(resp.Body)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Space == "DAV:" && se.Name.Local == "response" {
			n++
		}
	}
}

func portOf(t *testing.T, url string) int {
	t.Helper()
	var port int
	if _, err := fmt.Sscanf(url, "http://127.0.0.1:%d/", &port); err != nil {
		t.Fatalf("Radicale URL %q: %v", url, err)
	}
	return port
}

func newCalHoldover(t *testing.T, bin, dir, url string, r *testenv.Radicale) *holdoverTool {
	t.Helper()
	account := fmt.Sprintf("    calendar:\n      caldav: {url: %q, username: %s, password_env: %s}\n", url, r.User, pwEnv)
	return newHoldoverTool(t, bin, dir, "calendar", account, []string{pwEnv + "=" + r.Password})
}

// vdirTool is vdirsyncer (0.19, Debian's) pulling the calendars into a
// filesystem storage (one .ics file per event), with its own status
// directory. The CalDAV side is read_only: a mirror, like holdover's.
type vdirTool struct {
	cfg, store string
}

func newVdir(t *testing.T, dir, url string, r *testenv.Radicale) *vdirTool {
	t.Helper()
	v := &vdirTool{cfg: filepath.Join(dir, "config"), store: filepath.Join(dir, "calendars")}
	cfg := fmt.Sprintf(`[general]
status_path = %q

[pair bench]
a = "bench_remote"
b = "bench_local"
collections = ["from a"]

[storage bench_remote]
type = "caldav"
url = %q
username = %q
password = %q
read_only = true

[storage bench_local]
type = "filesystem"
path = %q
fileext = ".ics"
`, filepath.Join(dir, "status")+"/", url, r.User, r.Password, v.store+"/")
	// The local collections exist beforehand, so discover asks nothing
	// ("Should vdirsyncer attempt to create it?").
	for _, c := range benchCalendars {
		if err := os.MkdirAll(filepath.Join(v.store, c.Name), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(v.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return v
}

// sync runs `vdirsyncer sync`; with discover, `vdirsyncer discover`
// first, counted in the run (holdover's initial sync discovers too).
func (v *vdirTool) sync(t *testing.T, discover bool) run {
	t.Helper()
	if !discover {
		return measure(t, nil, "vdirsyncer", "-c", v.cfg, "sync")
	}
	d := measure(t, nil, "vdirsyncer", "-c", v.cfg, "discover")
	r := measure(t, nil, "vdirsyncer", "-c", v.cfg, "sync")
	r.Wall += d.Wall
	r.User += d.User
	r.Sys += d.Sys
	r.MaxRSSKB = max(r.MaxRSSKB, d.MaxRSSKB)
	r.Output = d.Output + r.Output
	return r
}

// check fails unless the local storage holds n events.
func (v *vdirTool) check(t *testing.T, n int) {
	t.Helper()
	if v == nil {
		return
	}
	got := 0
	for _, c := range benchCalendars {
		files, err := filepath.Glob(filepath.Join(v.store, c.Name, "*.ics"))
		if err != nil {
			t.Fatal(err)
		}
		got += len(files)
	}
	if got != n {
		t.Fatalf("vdirsyncer's storage %s holds %d events, want %d", v.store, got, n)
	}
}

func version(argv ...string) string {
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		return "version unknown"
	}
	return strings.TrimSpace(string(out))
}

func vdirVersion(have bool) string {
	if !have {
		return "vdirsyncer NOT INSTALLED: holdover measured alone"
	}
	return version("vdirsyncer", "--version")
}
