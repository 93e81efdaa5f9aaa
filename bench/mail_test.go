//go:build linux

// Package bench holds holdover's benchmarks against real servers and
// reference tools. They are tests that skip unless HOLDOVER_BENCH=1, so
// `go test ./...` (make test) never runs them; bench/mail.sh does.
package bench

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/testenv"
)

var (
	flagMsgs    = flag.Int("msgs", 10000, "messages in the generated mailbox")
	flagAttach  = flag.Int("attachments", 20, "messages with a 0.2-1 MB attachment (scaled down below 10000 messages)")
	flagBigMB   = flag.Int("big-mb", 50, "size of the attachment of the big-message step, in MB")
	flagFlags   = flag.Int("flag-changes", 100, "server-side flag changes before each run of step (c)")
	flagNew     = flag.Int("new", 100, "new messages (mail) or events (calendar) before each run of step (c)")
	flagInitial = flag.Int("initial-runs", 3, "runs of the initial sync, each into an empty store; the median is reported (calendar: min/median/max)")
	flagNoop    = flag.Int("noop-runs", 3, "runs of the no-op resync; the median is reported (calendar: min/median/max)")
	flagChange  = flag.Int("change-runs", 3, "runs of step (c), each after a new change set; the median is reported (calendar: min/median/max)")
	// mbsync sleeps a second when its maildir changed less than a second
	// ago ("Maildir notice: sleeping due to recent directory
	// modification"), and Dovecot treats a maildir changed within the
	// current second as dirty; real resyncs are minutes apart, so each run
	// starts this long after the previous one.
	flagSettle = flag.Duration("settle", 1100*time.Millisecond, "pause before each measured run")
	flagBin    = flag.String("holdover-bin", "", "measure this holdover binary (absolute path) instead of building ./cmd/holdover")
	flagPprof  = flag.String("pprof", "", "write a Go CPU profile of holdover's last (a) and (c) runs into this directory (a.pprof, c.pprof: go tool pprof -top bin/holdover DIR/a.pprof)")
	flagPerf   = flag.String("perf", "", "record holdover's last (a) and (c) runs with `perf record -g` into this directory (a.perf, c.perf; calendar, on loopback: cal-a.perf, cal-c.perf; files, the last run of each step on loopback: files-a-up.perf…)")
)

// Issue 14's goals for the mail benchmark.
const (
	goalMailInitialFastest = 0.5 // (a) on loopback: holdover's median over mbsync's fastest run
	goalMailInitialDelayed = 0.7 // (a) over the delayed link: holdover's median over mbsync's
	goalMailChange         = 1.0 // (c): holdover's median over mbsync's
	goalMailNoopLoopback   = 50 * time.Millisecond
	goalMailNoopDelayed    = 300 * time.Millisecond
	goalMailRSSKB          = 60 << 10
)

// TestMailBenchmark is the mail benchmark (issues 4 and 14): holdover
// against mbsync on a generated mailbox in a throwaway Dovecot, on
// loopback and through a delaying proxy (-links, -rtt), each step run by
// the two tools in turn. Run it with bench/mail.sh [messages].
func TestMailBenchmark(t *testing.T) {
	if os.Getenv("HOLDOVER_BENCH") != "1" {
		t.Skip("mail benchmark: runs only with HOLDOVER_BENCH=1 (bench/mail.sh sets it)")
	}
	haveMbsync := true
	if _, err := exec.LookPath("mbsync"); err != nil {
		msg := "mbsync (Debian package isync) not installed: apt-get install isync; holdover is measured alone"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s, and a missing mbsync is a failure in CI (CI=true)", msg)
		}
		shout(t, msg)
		haveMbsync = false
	}
	if gnuTime == "" {
		msg := "GNU time (Debian package time) not installed: apt-get install time; peak RSS is then only an upper bound (marked <=)"
		shout(t, msg)
	}
	var links []string
	for _, l := range strings.Split(*flagLinks, ",") {
		if l != "loopback" && l != "delayed" {
			t.Fatalf("-links: %q: want loopback or delayed", l)
		}
		links = append(links, l)
	}
	n := *flagMsgs
	nAttach := min(*flagAttach, *flagAttach*n/10000+1)
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

	d := testenv.StartDovecot(t)
	o, err := ownerOf(filepath.Dir(d.MailDir))
	if err != nil {
		t.Fatal(err)
	}
	g := newGen(4)
	start := time.Now()
	want, genBytes, err := generateMailbox(g, d.MailDir, n, nAttach, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("generated %d messages (%d with attachments), %.1f MB, in %v", n, nAttach, mb(genBytes), time.Since(start).Round(time.Millisecond))
	var names []string
	for _, f := range benchFolders {
		names = append(names, f.Name)
	}
	start = time.Now()
	warmUp(t, d, names)
	checkCounts(t, "Dovecot", serverCounts(t, d), want)
	t.Logf("Dovecot indexed the mailbox in %v", time.Since(start).Round(time.Millisecond))
	if err := <-built; err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{*flagPerf, *flagPprof} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	proxy, err := newDelayProxy(fmt.Sprintf("127.0.0.1:%d", d.Port), *flagRTT/2)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.proto = "imap"

	var tables []cmpTable
	var synced *holdoverTool
	var syncedM *mbsyncTool
	for _, link := range links {
		tb := cmpTable{link: "loopback", ref: "mbsync"}
		port := d.Port
		if link == "delayed" {
			tb.link, tb.delayed, port = fmt.Sprintf("%v RTT (delaying proxy)", *flagRTT), true, proxy.Port()
		}
		// fresh gives each tool a new, empty local store: every
		// initial-sync run starts from nothing.
		var h *holdoverTool
		var m *mbsyncTool
		fresh := func(name string) {
			dir := filepath.Join(tmp, link+"-"+name)
			h = newHoldover(t, bin, filepath.Join(dir, "holdover"), d, port, nil)
			if haveMbsync {
				m = newMbsync(t, filepath.Join(dir, "mbsync"), d, port, "*")
			}
		}
		// step runs both tools in turn (holdover, mbsync, holdover…), so
		// that disk and CPU noise hits both alike; reset, when set, runs
		// before each round.
		step := func(name string, runs int, goal float64, reset func(i int), perf string) cmpRow {
			row := cmpRow{name: name, goal: goal}
			for i := 0; i < runs; i++ {
				if reset != nil {
					reset(i)
				}
				last := i == runs-1 && !tb.delayed && perf != ""
				if *flagPerf != "" && last {
					h.perfOut = filepath.Join(*flagPerf, perf)
				}
				if *flagPprof != "" && last {
					h.pprofOut = filepath.Join(*flagPprof, strings.TrimSuffix(perf, ".perf")+".pprof")
				}
				time.Sleep(*flagSettle)
				proxy.Reset()
				hr := h.sync(t)
				h.perfOut, h.pprofOut = "", ""
				row.h = append(row.h, toolRun{run: hr, dav: proxy.Reset()})
				if m != nil {
					time.Sleep(*flagSettle)
					mr := m.sync(t)
					row.v = append(row.v, toolRun{run: mr, dav: proxy.Reset()})
				}
			}
			t.Logf("%s, %s: holdover %s; wall %s; mbsync wall %s", tb.link, name, summary(row.h[len(row.h)-1].Output, "mail"),
				walls(row.runs(false)), walls(row.runs(true)))
			tb.rows = append(tb.rows, row)
			return row
		}
		verify := func(want mailStats) {
			checkCounts(t, "holdover", h.counts(t), want)
			if m != nil {
				checkCounts(t, "mbsync", m.counts(t), want)
			}
		}

		goalA := goalMailInitialFastest
		if tb.delayed {
			goalA = goalMailInitialDelayed
		}
		step(fmt.Sprintf("(a) initial sync, %d msg", n), *flagInitial, goalA, func(i int) { fresh(fmt.Sprintf("initial-%d", i)) }, "a.perf")
		verify(want)
		step("(b) no-op resync", *flagNoop, 0, nil, "")
		// Each (c) round gets its own change set, applied once for both
		// tools.
		changes := func(int) { applyChanges(t, d, g, folderCounts(n), *flagFlags, *flagNew) }
		c := step(fmt.Sprintf("(c) %d flags + %d new", *flagFlags, *flagNew), *flagChange, goalMailChange, changes, "c.perf")
		want = serverCounts(t, d)
		verify(want)
		for _, r := range c.runs(false) {
			if !strings.Contains(r.Output, fmt.Sprintf(" %d new (", *flagNew)) || !strings.Contains(r.Output, fmt.Sprintf(", %d flag changes", *flagFlags)) {
				t.Errorf("holdover (c) did not report %d new messages and %d flag changes: %s", *flagNew, *flagFlags, summary(r.Output, "mail"))
			}
		}
		tables = append(tables, tb)
		synced, syncedM = h, m
	}

	// A folder whose one big message carries a 50 MB attachment, synced
	// by holdover alone into a fresh store, on loopback: memory stays flat.
	bigDir, err := mkFolder(d.MailDir, ".Big", o)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		date := genNow.Add(-time.Duration(i+2) * time.Hour)
		raw, flags := g.message(msgSpec{Folder: "Big", Date: date}, flagOdds{Seen: 1})
		if err := writeMessage(bigDir, 900000+i, date, raw, flags, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeBigMessage(g, bigDir, 999999, int64(*flagBigMB)<<20, o); err != nil {
		t.Fatal(err)
	}
	warmUp(t, d, []string{"Big"})
	big := newHoldover(t, bin, filepath.Join(tmp, "big", "holdover"), d, d.Port, []string{"Big"})
	time.Sleep(*flagSettle)
	bigRun := big.sync(t)
	checkCounts(t, "holdover", big.counts(t), mailStats{"Big": {Messages: 6, Unread: 1}})

	fmt.Printf("\nmail benchmark: %d messages (%.0f MB) in %d folders; Dovecot %s; %s\n", n, mb(genBytes), len(benchFolders), version("dovecot", "--version"), version("mbsync", "--version"))
	fmt.Printf("wall: min/median/max of the runs, holdover and mbsync in turn; maxRSS: the largest of the runs; ratio: of the medians.\n")
	fmt.Printf("Noisy: 2 cores shared with Dovecot, which serves both tools; mbsync's runs stall on fsync on this disk, so (a) is also compared with its fastest run.\n")
	for _, tb := range tables {
		fmt.Print(tb.String())
		fmt.Print(mailPairs(tb))
	}
	fmt.Printf("\n%d MB attachment, holdover alone: wall %s, maxRSS %s\n", *flagBigMB, fmtWall(bigRun.Wall), rssCol(bigRun))
	fmt.Printf("sizes: generated mail %.0f MB; holdover data_dir after (c) %.0f MB (%s); mbsync maildir after (c) %.0f MB\n",
		mb(genBytes), mb(dirSize(synced.dataDir)), filesIn(synced.dataDir), mbsyncSize(syncedM))
	fmt.Print(mailVerdicts(tables, bigRun))
	if *flagPerf != "" {
		fmt.Printf("perf: holdover's last (a) and (c) runs on loopback ran under perf record (their maxRSS is perf's or holdover's, whichever is larger): perf report -i %s/a.perf --no-children\n", *flagPerf)
	}
	if *flagPprof != "" {
		fmt.Printf("pprof: holdover's last (a) and (c) runs on loopback: go tool pprof -top %s %s/a.pprof\n", bin, *flagPprof)
	}
}

// mailPairs lists each step's runs pair by pair (holdover's over mbsync's
// taken right after it), and holdover's median over mbsync's fastest.
func mailPairs(tb cmpTable) string {
	var b strings.Builder
	for _, r := range tb.rows {
		if len(r.v) == 0 {
			continue
		}
		var pairs []string
		for i := range min(len(r.h), len(r.v)) {
			pairs = append(pairs, fmt.Sprintf("%.2f", r.h[i].Wall.Seconds()/r.v[i].Wall.Seconds()))
		}
		fmt.Fprintf(&b, "  %s pair ratios: %s; holdover's median over mbsync's fastest: %.2fx\n", r.short(), strings.Join(pairs, " "), fastestRatio(r))
	}
	return b.String()
}

// fastestRatio is holdover's median wall time over mbsync's fastest run.
func fastestRatio(r cmpRow) float64 {
	fastest := r.v[0].Wall
	for _, x := range r.v {
		fastest = min(fastest, x.Wall)
	}
	return median(r.runs(false)).Wall.Seconds() / fastest.Seconds()
}

func mailVerdicts(tables []cmpTable, big run) string {
	var b strings.Builder
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	b.WriteString("\ngoals (issue 14): (a) <= 0.5x mbsync's fastest on loopback, <= 0.7x mbsync over the delayed link; (b) <= 0.05 s on loopback, <= 0.3 s delayed; (c) <= 1.0x mbsync; peak RSS <= 60 MB\n")
	var maxRSS int64
	for _, tb := range tables {
		var parts []string
		for _, r := range tb.rows {
			for _, x := range r.h {
				maxRSS = max(maxRSS, x.MaxRSSKB)
			}
			med := median(r.runs(false)).Wall
			switch {
			case strings.HasPrefix(r.name, "(b)"):
				limit := goalMailNoopLoopback
				if tb.delayed {
					limit = goalMailNoopDelayed
				}
				parts = append(parts, fmt.Sprintf("(b) %s (%s)", verdict(med <= limit), fmtWall(med)))
			case len(r.v) == 0:
				parts = append(parts, r.short()+" n/a (no mbsync)")
			case strings.HasPrefix(r.name, "(a)") && !tb.delayed:
				parts = append(parts, fmt.Sprintf("(a) %s (%.2fx mbsync's fastest, %.2fx its median)", verdict(fastestRatio(r) <= r.goal), fastestRatio(r), r.ratio()))
			default:
				parts = append(parts, fmt.Sprintf("%s %s (%.2fx)", r.short(), verdict(r.ratio() <= r.goal), r.ratio()))
			}
		}
		fmt.Fprintf(&b, "verdict, %s: %s\n", tb.link, strings.Join(parts, ", "))
	}
	maxRSS = max(maxRSS, big.MaxRSSKB)
	fmt.Fprintf(&b, "verdict, memory: peak RSS %s (max %s; the 50 MB attachment %s)\n", verdict(maxRSS <= goalMailRSSKB), fmtRSS(maxRSS), fmtRSS(big.MaxRSSKB))
	return b.String()
}

func mbsyncSize(m *mbsyncTool) float64 {
	if m == nil {
		return 0
	}
	return mb(dirSize(m.dir))
}
