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

// TestMailBenchmark is issue 4's mail benchmark: holdover against mbsync
// on the same Dovecot mailbox. Run it with bench/mail.sh [messages].
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

	// fresh gives each tool a new, empty local store: every initial-sync
	// run starts from nothing.
	var h *holdoverTool
	var m *mbsyncTool
	fresh := func(name string, include []string, patterns string) {
		h = newHoldover(t, bin, filepath.Join(tmp, name, "holdover"), d, include)
		if haveMbsync {
			m = newMbsync(t, filepath.Join(tmp, name, "mbsync"), d, patterns)
		}
	}
	var rows []row
	// step runs both tools runs times, alternating so that disk noise hits
	// both alike, and keeps the median run of each; reset, when set, runs
	// before each round.
	step := func(name string, runs int, reset func(i int), perf string) {
		var hs, ms []run
		for i := 0; i < runs; i++ {
			if reset != nil {
				reset(i)
			}
			if *flagPerf != "" && perf != "" && i == runs-1 {
				h.perfOut = filepath.Join(*flagPerf, perf)
			}
			if *flagPprof != "" && perf != "" && i == runs-1 {
				h.pprofOut = filepath.Join(*flagPprof, strings.TrimSuffix(perf, ".perf")+".pprof")
			}
			time.Sleep(*flagSettle)
			hs = append(hs, h.sync(t))
			h.perfOut, h.pprofOut = "", ""
			if m != nil {
				time.Sleep(*flagSettle)
				ms = append(ms, m.sync(t))
			}
		}
		r := row{name: name, h: median(hs), all: hs}
		t.Logf("holdover %s: %s; wall %s (of %s), user %v, sys %v, maxRSS %d KB, wrote %.0f MB", name, summary(r.h.Output, "mail"), fmtWall(r.h.Wall), walls(hs),
			r.h.User.Round(time.Millisecond), r.h.Sys.Round(time.Millisecond), r.h.MaxRSSKB, r.h.WrittenMB)
		if m != nil {
			mr := median(ms)
			r.m = &mr
			t.Logf("mbsync   %s: wall %s (of %s), user %v, sys %v, maxRSS %d KB, wrote %.0f MB", name, fmtWall(mr.Wall), walls(ms),
				mr.User.Round(time.Millisecond), mr.Sys.Round(time.Millisecond), mr.MaxRSSKB, mr.WrittenMB)
		}
		rows = append(rows, r)
	}
	verify := func(want mailStats) {
		checkCounts(t, "holdover", h.counts(t), want)
		if m != nil {
			checkCounts(t, "mbsync", m.counts(t), want)
		}
	}
	for _, dir := range []string{*flagPerf, *flagPprof} {
		if dir == "" {
			continue
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	step(fmt.Sprintf("(a) initial sync, %d msg", n), *flagInitial, func(i int) { fresh(fmt.Sprintf("initial-%d", i), nil, "*") }, "a.perf")
	verify(want)
	step("(b) no-op resync", *flagNoop, nil, "")
	// Each (c) round gets its own change set, applied once for both tools.
	changes := func(int) { applyChanges(t, d, g, folderCounts(n), *flagFlags, *flagNew) }
	step(fmt.Sprintf("(c) %d flags + %d new", *flagFlags, *flagNew), *flagChange, changes, "c.perf")
	verify(serverCounts(t, d))
	for _, r := range rows[2].all {
		if !strings.Contains(r.Output, fmt.Sprintf(" %d new (", *flagNew)) || !strings.Contains(r.Output, fmt.Sprintf(", %d flag changes", *flagFlags)) {
			t.Errorf("holdover (c) did not report %d new messages and %d flag changes: %s", *flagNew, *flagFlags, summary(r.Output, "mail"))
		}
	}
	synced, syncedM := h, m

	// A folder whose one big message carries a 50 MB attachment, synced
	// by each tool alone into a fresh store.
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
	step(fmt.Sprintf("%d MB attachment", *flagBigMB), 1, func(int) { fresh("big", []string{"Big"}, "Big") }, "")
	verify(mailStats{"Big": {Messages: 6, Unread: 1}})

	fmt.Print(table(rows))
	fmt.Printf("sizes: generated mail %.0f MB; holdover data_dir after (c) %.0f MB (%s); mbsync maildir after (c) %.0f MB\n",
		mb(genBytes), mb(dirSize(synced.dataDir)), filesIn(synced.dataDir), mbsyncSize(syncedM))

	if *flagPerf != "" {
		fmt.Printf("perf: holdover's last (a) and (c) runs ran under perf record (their maxRSS is perf's or holdover's, whichever is larger): perf report -i %s/a.perf --no-children\n", *flagPerf)
	}
}

type row struct {
	name string
	h    run   // holdover's median run
	all  []run // all of holdover's runs
	m    *run  // mbsync's median run, nil without mbsync
}

func mbsyncSize(m *mbsyncTool) float64 {
	if m == nil {
		return 0
	}
	return mb(dirSize(m.dir))
}

// table formats the results and how they compare with issue 4's goals.
func table(rows []row) string {
	var b strings.Builder
	line := func(cols ...string) {
		fmt.Fprintf(&b, "%-30s %-14s %-16s %-12s %-14s %s\n", cols[0], cols[1], cols[2], cols[3], cols[4], cols[5])
	}
	line("step", "holdover wall", "holdover maxRSS", "mbsync wall", "mbsync maxRSS", "ratio(wall)")
	ratio := make([]float64, len(rows))
	for i, r := range rows {
		mw, mr, rt := "n/a", "n/a", "n/a"
		if r.m != nil {
			ratio[i] = r.h.Wall.Seconds() / r.m.Wall.Seconds()
			mw, mr, rt = fmtWall(r.m.Wall), rssCol(*r.m), fmt.Sprintf("%.2fx", ratio[i])
		}
		line(r.name, fmtWall(r.h.Wall), rssCol(r.h), mw, mr, rt)
	}
	b.WriteString("goals: (a) <= 0.8x mbsync, (b) <= 0.15s, (c) <= 1.0x mbsync, RSS <= 60 MB and flat with a 50 MB attachment\n")
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	ratioGoal := func(i int, limit float64) string {
		if rows[i].m == nil {
			return "n/a (no mbsync)"
		}
		return fmt.Sprintf("%s (%.2fx)", verdict(ratio[i] <= limit), ratio[i])
	}
	var maxRSS int64
	for _, r := range rows {
		maxRSS = max(maxRSS, r.h.MaxRSSKB)
	}
	big, initial := rows[len(rows)-1].h.MaxRSSKB, rows[0].h.MaxRSSKB
	fmt.Fprintf(&b, "verdict: (a) %s, (b) %s (%s), (c) %s, RSS %s (max %s; 50 MB attachment %s vs %s for (a))\n",
		ratioGoal(0, 0.8), verdict(rows[1].h.Wall <= 150*time.Millisecond), fmtWall(rows[1].h.Wall), ratioGoal(2, 1.0),
		verdict(maxRSS <= 60<<10 && big <= initial+10<<10), fmtRSS(maxRSS), fmtRSS(big), fmtRSS(initial))
	return b.String()
}
