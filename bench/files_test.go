//go:build linux

package bench

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/webdav"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

var (
	flagFiles       = flag.Int("files", 5000, "files in the generated tree")
	flagFolders     = flag.Int("folders", 250, "folders in the generated tree (nested up to 6 deep)")
	flagTreeMB      = flag.Int("mb", 300, "about this many MB in the generated tree (files of 5-20 MB make up what 1-200 KB files leave)")
	flagTreeSeed    = flag.Uint64("tree-seed", 1, "seed of the generated tree")
	flagRuns        = flag.Int("runs", 3, "files: runs of each tool in each step (min/median/max reported; odd)")
	flagLocalEdits  = flag.Int("local-edits", 100, "files step (c): local files rewritten")
	flagLocalNew    = flag.Int("local-new", 100, "files step (c): new local files")
	flagRemoteEdits = flag.Int("remote-edits", 100, "files step (c): files rewritten on the server by another client")
	flagLatRuns     = flag.Int("latency-runs", 5, "files step (d): local writes timed until on the server, with the daemon running")
	flagLatKB       = flag.Int("latency-kb", 100, "files step (d): size of each file written")
	flagDepthInf    = flag.Bool("depth-infinity", false, "files: Apache answers PROPFIND depth infinity (DavDepthInfinity On; off by default, as in Apache)")
	flagSkipUp      = flag.Bool("skip-up", false, "files: skip step (a) folder → empty server, the longest (steps (b) and (c) then go on from the other initial sync)")
	flagBigFileMB   = flag.Int("big-file-mb", 2048, "files: size of the single file synced up and down for holdover's RSS, in MB (0: skip)")
)

// Issue 11's goals.
const (
	goalFilesInitial = 0.3 // (a) holdover's wall time against rclone bisync's
	goalFilesNoop    = 0.2 // (b)
	goalFilesChange  = 0.3 // (c)
	goalFilesLatency = 3 * time.Second
	goalFilesRSSKB   = 80 << 10
	// goalFilesFlatKB is how much the RSS may vary while the big file
	// moves (the middle 80 % of the run) for it to count as flat.
	goalFilesFlatKB = 16 << 10
)

// filesTransfers is what both tools run at once: rclone's default
// --transfers and holdover's default files.transfers.
const filesTransfers = 4

// TestFilesBenchmark is issue 11's files benchmark: holdover's files sync
// against rclone bisync, each with a folder of its own and a folder of
// its own on the same Apache, on loopback and over a delayed link. Run
// it with bench/files.sh.
func TestFilesBenchmark(t *testing.T) {
	if os.Getenv("HOLDOVER_BENCH") != "1" {
		t.Skip("files benchmark: runs only with HOLDOVER_BENCH=1 (bench/files.sh sets it)")
	}
	haveRclone := true
	if _, err := exec.LookPath("rclone"); err != nil {
		msg := "rclone (Debian package rclone) not installed: apt-get install rclone (bench/files.sh does as root); holdover is measured alone"
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s, and a missing rclone is a failure in CI (CI=true)", msg)
		}
		shout(t, msg)
		haveRclone = false
	}
	if gnuTime == "" {
		shout(t, "GNU time (Debian package time) not installed: apt-get install time; peak RSS is then only an upper bound (marked <=)")
	}
	if *flagPerf != "" {
		if err := os.MkdirAll(*flagPerf, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if *flagRuns < 1 || *flagRuns%2 == 0 {
		t.Fatalf("-runs %d: want an odd number (the median is a run)", *flagRuns)
	}
	var links []string
	for _, l := range strings.Split(*flagLinks, ",") {
		switch l {
		case "loopback", "delayed":
			links = append(links, l)
		case "none": // only the big file
		default:
			t.Fatalf("-links: %q: want loopback, delayed or none", l)
		}
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

	params := treeParams{Files: *flagFiles, Folders: *flagFolders, MB: *flagTreeMB, Seed: *flagTreeSeed}
	start := time.Now()
	tree, treeDir, err := cachedTree(params)
	if err != nil {
		t.Fatalf("generating the tree into %s: %v", params.cacheDir(), err)
	}
	desc := tree.describe() // before step (c) adds files
	generated := tree.clone()
	t.Logf("tree: %s, in %s (ready in %v)", desc, treeDir, time.Since(start).Round(time.Millisecond))
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	a := testenv.StartApacheWith(t, testenv.ApacheOptions{DepthInfinity: *flagDepthInf})
	o, err := ownerOf(a.Root)
	if err != nil {
		t.Fatal(err)
	}
	alog := &apacheLog{path: a.AccessLog}
	proxy, err := newDelayProxy(strings.TrimSuffix(strings.TrimPrefix(a.URL, "http://"), "/dav/"), *flagRTT/2)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// Each tool has a folder of its own on the server, so that one's
	// changes are never the other's news.
	sides := map[string]filesPair{}
	for _, tool := range []string{"holdover", "rclone"} {
		sides[tool] = filesPair{server: filepath.Join(a.Root, tool)}
		if err := emptyDir(sides[tool].server, o); err != nil {
			t.Fatal(err)
		}
	}
	other := map[string]*webdav.Client{} // another device of the user, on loopback
	for tool := range sides {
		other[tool] = davClient(t, a, a.URL+tool+"/")
	}

	b := &filesBench{t: t, bin: bin, tmp: tmp, apache: a, tree: tree, treeDir: treeDir, alog: alog, proxy: proxy,
		sides: sides, other: other, haveRclone: haveRclone}
	var tables []cmpTable
	var latencies []latencyResult
	round := 0
	for _, link := range links {
		tb := cmpTable{link: "loopback", ref: "rclone bisync"}
		port := portOf(t, a.URL)
		if link == "delayed" {
			tb.link, tb.delayed, port = fmt.Sprintf("%v RTT (delaying proxy, %v each way)", *flagRTT, *flagRTT/2), true, proxy.Port()
		}
		b.link = link
		b.baseURL = fmt.Sprintf("http://127.0.0.1:%d/dav/", port)

		tb.rows = append(tb.rows, b.step(cmpRow{name: "(a) initial, server → empty folder", tag: "(a) down", goal: goalFilesInitial}, func(i int) {
			*tree = *generated.clone() // what the server gets; steps (c) and (d) of an earlier link changed tree
			b.fresh(fmt.Sprintf("%s-a-down-%d", link, i), func(p filesPair) error {
				if err := os.RemoveAll(p.server); err != nil {
					return err
				}
				return copyTree(treeDir, p.server, o)
			})
		}))
		if !*flagSkipUp {
			tb.rows = append(tb.rows, b.step(cmpRow{name: "(a) initial, folder → empty server", tag: "(a) up", goal: goalFilesInitial}, func(i int) {
				*tree = *generated.clone()
				b.fresh(fmt.Sprintf("%s-a-up-%d", link, i), func(p filesPair) error {
					if err := emptyDir(p.server, o); err != nil {
						return err
					}
					if err := os.RemoveAll(p.local); err != nil {
						return err
					}
					return copyTree(treeDir, p.local, owner{})
				})
			}))
		}
		tb.rows = append(tb.rows, b.step(cmpRow{name: "(b) no-op resync", goal: goalFilesNoop}, nil))
		tb.rows = append(tb.rows, b.step(cmpRow{name: fmt.Sprintf("(c) %d local edits + %d local new + %d server edits",
			*flagLocalEdits, *flagLocalNew, *flagRemoteEdits), goal: goalFilesChange}, func(int) {
			round++
			b.applyChanges(genChanges(tree, round, *flagLocalEdits, *flagLocalNew, *flagRemoteEdits))
		}))
		tables = append(tables, tb)
		if *flagLatRuns > 0 {
			latencies = append(latencies, b.latency(tb.link))
		}
	}
	var big []bigFileRun
	if *flagBigFileMB > 0 {
		big = b.bigFile()
	}

	fmt.Printf("\nfiles benchmark: %s; %s; %s; holdover files.transfers %d, rclone --transfers %d (both defaults)\n",
		desc, firstLine(version("apache2", "-v")), rcloneVersion(haveRclone), filesTransfers, filesTransfers)
	fmt.Printf("Each tool syncs a folder of its own with a folder of its own on the same Apache (mod_dav_fs, DavDepthInfinity %s); holdover runs `files sync --once`,\n",
		map[bool]string{false: "Off as by default", true: "On"}[*flagDepthInf])
	fmt.Printf("rclone `bisync` (its initial runs with --resync) with a WebDAV remote, vendor owncloud. Every run starts %v after the last change.\n", *flagSettle)
	fmt.Printf("wall: min/median/max of %d runs of each tool, in turn; maxRSS: the largest of the runs; ratio: of the medians.\n", *flagRuns)
	fmt.Printf("After every run both sides of each tool were hashed and compared with what they must hold: %s.\n", b.correctness())
	fmt.Printf("Noisy: 2 cores shared by the tool, Apache and (on the delayed link) the proxy.\n")
	for _, tb := range tables {
		fmt.Print(tb.String())
	}
	for _, l := range latencies {
		fmt.Print(l.String())
	}
	for _, r := range big {
		fmt.Print(r.String())
	}
	fmt.Print(filesVerdicts(tables, latencies, big, b))
}

// filesPair is one tool's two sides: its local folder and its folder on
// the server, on Apache's disk.
type filesPair struct{ local, server string }

// filesBench is the state of a files benchmark run.
type filesBench struct {
	t          *testing.T
	bin, tmp   string
	apache     *testenv.Apache
	tree       *fileTree
	treeDir    string
	alog       *apacheLog
	proxy      *delayProxy
	haveRclone bool
	sides      map[string]filesPair // "holdover", "rclone": server side fixed, local side set by fresh
	other      map[string]*webdav.Client

	link, baseURL string
	h             *holdoverTool
	rc            *rcloneTool
	lastDir       string
	wrong         []string // sides that differed from the tree after a run
}

func davClient(t *testing.T, a *testenv.Apache, url string) *webdav.Client {
	t.Helper()
	c, err := webdav.New(webdav.Options{URL: url, Username: a.User, Password: func(context.Context) (string, error) { return a.Password, nil }})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// fresh gives each tool new state in dir/<tool> (a new local folder, a
// new data directory or rclone workdir), and prepares each side with
// prepare. The previous fresh state is removed.
func (b *filesBench) fresh(name string, prepare func(filesPair) error) {
	t := b.t
	t.Helper()
	if b.lastDir != "" {
		os.RemoveAll(b.lastDir)
	}
	dir := filepath.Join(b.tmp, name)
	b.lastDir = dir
	for _, tool := range []string{"holdover", "rclone"} {
		p := b.sides[tool]
		p.local = filepath.Join(dir, tool, "Sync")
		if err := os.MkdirAll(p.local, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := prepare(p); err != nil {
			t.Fatal(err)
		}
		b.sides[tool] = p
	}
	p := b.sides["holdover"]
	b.h = newFilesHoldover(t, b.bin, filepath.Join(dir, "holdover"), b.baseURL+"holdover/", p.local, b.apache)
	b.rc = nil
	if b.haveRclone {
		b.rc = newRclone(t, filepath.Join(dir, "rclone"), b.baseURL+"rclone/", b.sides["rclone"].local, b.apache)
	}
}

// step runs both tools in turn (holdover, rclone, holdover…) -runs
// times; reset, when set, runs before each round. Both tools' sides are
// checked after each run.
func (b *filesBench) step(row cmpRow, reset func(i int)) cmpRow {
	t := b.t
	t.Helper()
	for i := 0; i < *flagRuns; i++ {
		if reset != nil {
			reset(i)
		}
		time.Sleep(*flagSettle)
		if *flagPerf != "" && b.link == "loopback" && i == *flagRuns-1 {
			tag := strings.NewReplacer("(", "", ")", "", " ", "-").Replace(row.short())
			b.h.perfOut = filepath.Join(*flagPerf, "files-"+tag+".perf")
		}
		b.proxy.Reset()
		b.alog.skip()
		hr := b.h.sync(t)
		b.h.perfOut = ""
		row.h = append(row.h, toolRun{run: hr, dav: b.proxy.Reset(), srv: b.alog.since()})
		b.check("holdover", row.name, i)
		if b.rc != nil {
			resync := strings.HasPrefix(row.name, "(a)")
			rr := b.rc.sync(t, resync)
			row.v = append(row.v, toolRun{run: rr, dav: b.proxy.Reset(), srv: b.alog.since()})
			b.check("rclone", row.name, i)
		}
	}
	t.Logf("%s, %s: holdover %s; wall %s; rclone bisync wall %s", b.link, row.name, summary(row.h[len(row.h)-1].Output, "files"),
		walls(row.runs(false)), walls(row.runs(true)))
	return row
}

// check compares both sides of tool with the tree; a difference is an
// error of the test (it goes on, to show the rest).
func (b *filesBench) check(tool, step string, i int) {
	t := b.t
	t.Helper()
	p := b.sides[tool]
	for _, side := range []struct{ name, dir string }{{"local folder", p.local}, {"server", p.server}} {
		got, err := hashTree(side.dir)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffTrees(got, b.tree.Want); d != "" {
			msg := fmt.Sprintf("%s, %s, run %d: %s's %s (%s) differs from what it must hold: %s", b.link, step, i+1, tool, side.name, side.dir, d)
			t.Error(msg)
			shout(t, msg)
			b.wrong = append(b.wrong, msg)
		}
	}
}

// correctness sums up the checks.
func (b *filesBench) correctness() string {
	if len(b.wrong) == 0 {
		return "all equal"
	}
	return fmt.Sprintf("%d DIFFERENCES (see the verdicts)", len(b.wrong))
}

// applyChanges makes cs's changes on both tools' sides: local files
// written in place, server files replaced by another client's PUT.
func (b *filesBench) applyChanges(cs changeSet) {
	t := b.t
	t.Helper()
	for tool, p := range b.sides {
		if err := cs.writeLocal(p.local); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs.RemoteEdits {
			if _, err := b.other[tool].Put(context.Background(), c.Path, contentReader(c.Seed, c.Size), c.Size, hsync.PutCondition{Overwrite: true}); err != nil {
				t.Fatalf("PUT %s on the server (%s's side): %v", c.Path, tool, err)
			}
		}
	}
}

func newFilesHoldover(t *testing.T, bin, dir, url, local string, a *testenv.Apache) *holdoverTool {
	t.Helper()
	account := fmt.Sprintf("    files:\n      webdav: {url: %q, username: %s, password_env: %s}\n      local_dir: %q\n      transfers: %d\n",
		url, a.User, pwEnv, local, filesTransfers)
	h := newHoldoverTool(t, bin, dir, "files", account, []string{pwEnv + "=" + a.Password})
	h.syncArgs = []string{"files", "sync", "--once"}
	return h
}

// rcloneTool is rclone bisync between a local folder and a WebDAV remote
// with a workdir of its own.
type rcloneTool struct {
	conf, local, workdir string
}

func newRclone(t *testing.T, dir, url, local string, a *testenv.Apache) *rcloneTool {
	t.Helper()
	out, err := exec.Command("rclone", "obscure", a.Password).Output()
	if err != nil {
		t.Fatalf("rclone obscure: %v", err)
	}
	r := &rcloneTool{conf: filepath.Join(dir, "rclone.conf"), local: local, workdir: filepath.Join(dir, "workdir")}
	// vendor owncloud: rclone then reads modification times from the
	// server (and sends X-OC-Mtime, which Apache ignores: the server's
	// time is the upload's, and bisync compares each side with its own
	// last listing, so that is enough).
	conf := fmt.Sprintf("[dav]\ntype = webdav\nurl = %s\nvendor = owncloud\nuser = %s\npass = %s\n", url, a.User, strings.TrimSpace(string(out)))
	if err := os.MkdirAll(r.workdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(r.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// sync runs one bisync; resync is its initial run.
func (r *rcloneTool) sync(t *testing.T, resync bool) run {
	t.Helper()
	argv := []string{"rclone", "--config", r.conf, "bisync", r.local, "dav:", "--workdir", r.workdir,
		"--transfers", fmt.Sprint(filesTransfers)}
	if resync {
		argv = append(argv, "--resync")
	}
	return measure(t, nil, argv...)
}

func rcloneVersion(have bool) string {
	if !have {
		return "rclone NOT INSTALLED: holdover measured alone"
	}
	return firstLine(version("rclone", "version"))
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

// latencyResult is step (d) on one link.
type latencyResult struct {
	link   string
	lat    []time.Duration // from the write to the file being whole on the server
	failed int             // writes not on the server within a minute
	hwmKB  int64           // the daemon's peak RSS (VmHWM)
	idle   time.Duration   // from the start to the end of the daemon's first pass
	srv    serverTime      // what the daemon asked of Apache during the writes
}

func (l latencyResult) String() string {
	s := slices.Clone(l.lat)
	slices.Sort(s)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }
	res := "n/a"
	if len(s) > 0 {
		res = fmt.Sprintf("%s / %s / %s", ms(s[0]), ms(s[len(s)/2]), ms(s[len(s)-1]))
	}
	fail := ""
	if l.failed > 0 {
		fail = fmt.Sprintf(", %d NOT ON THE SERVER within a minute", l.failed)
	}
	return fmt.Sprintf("\n(d) local write -> upload complete, daemon running (`holdover run`; rclone bisync has no daemon mode: holdover alone), link %s:\n"+
		"  %d writes of %d KB: min/median/max %s%s; daemon peak RSS %s; its first pass took %s;\n  requests during the writes (this benchmark's polling included: PROPFIND depth 0 every 20 ms, a GET each): %s\n",
		l.link, len(l.lat)+l.failed, *flagLatKB, res, fail, fmtRSS(l.hwmKB), fmtWall(l.idle), l.srv)
}

// latency starts the daemon on the holdover side as the last step left
// it, waits for its first pass to end, then writes -latency-runs new
// files one after the other and times each until a client of the server
// sees all of it (PROPFIND every 20 ms on loopback, content checked).
func (b *filesBench) latency(link string) latencyResult {
	t := b.t
	t.Helper()
	res := latencyResult{link: link}
	logPath := filepath.Join(b.lastDir, "daemon.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(b.h.bin, "--config", b.h.cfg, "run")
	cmd.Env = append(os.Environ(), b.h.env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-exited
			t.Errorf("the daemon did not stop within 20 s of SIGINT; see %s", logPath)
		}
	}
	defer func() {
		if cmd.ProcessState == nil {
			stop()
		}
	}()
	waitUntil := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(d); !ok(); time.Sleep(100 * time.Millisecond) {
			select {
			case err := <-exited:
				log, _ := os.ReadFile(logPath)
				t.Fatalf("the daemon exited (%v) while waiting for %s:\n%s", err, what, log)
			default:
			}
			if time.Now().After(deadline) {
				log, _ := os.ReadFile(logPath)
				t.Fatalf("the daemon: no %s within %v:\n%s", what, d, log)
			}
		}
	}
	waitUntil("first pass", 10*time.Minute, func() bool {
		st, ok := b.filesStatus()
		return ok && st.LastSync != nil && st.LastSync.After(start) && st.PendingUp == 0 && st.PendingDown == 0
	})
	res.idle = time.Since(start)
	time.Sleep(time.Second)
	b.alog.skip()
	client := b.other["holdover"]
	for i := 0; i < *flagLatRuns; i++ {
		f := genFile{Path: path.Join(b.tree.Dirs[(i*37)%len(b.tree.Dirs)], fmt.Sprintf("written while the daemon runs %d-%d.bin", len(b.tree.Want), i)),
			Size: int64(*flagLatKB) << 10, Seed: uint64(1000 + len(b.tree.Want) + i)}
		name := filepath.Join(b.sides["holdover"].local, filepath.FromSlash(f.Path))
		t0 := time.Now()
		sum, err := writeGenFile(name, f.Seed, f.Size, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		b.tree.Files = append(b.tree.Files, f)
		b.tree.Want[f.Path] = sum
		var took time.Duration
		for deadline := t0.Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if rf, err := client.Stat(context.Background(), f.Path); err == nil && rf.Size == f.Size {
				took = time.Since(t0)
				break
			}
		}
		if took == 0 {
			res.failed++
			t.Errorf("%s: %s not on the server a minute after it was written", link, f.Path)
			continue
		}
		h := sha256.New()
		if _, err := client.Get(context.Background(), f.Path, h); err != nil || hex.EncodeToString(h.Sum(nil)) != sum {
			t.Errorf("%s: %s on the server is not what was written (%v)", link, f.Path, err)
		}
		res.lat = append(res.lat, took)
		time.Sleep(2 * time.Second)
	}
	res.srv = b.alog.since()
	res.hwmKB, _ = procStatusKB(cmd.Process.Pid, "VmHWM")
	stop()
	b.check("holdover", "(d) with the daemon", 0)
	return res
}

// filesStatus reads `holdover files status --json` of the holdover side.
func (b *filesBench) filesStatus() (daemonFilesStatus, bool) {
	cmd := exec.Command(b.h.bin, "--config", b.h.cfg, "files", "status", "--json")
	cmd.Env = append(os.Environ(), b.h.env...)
	out, err := cmd.Output()
	if err != nil {
		return daemonFilesStatus{}, false
	}
	var st []daemonFilesStatus
	if json.Unmarshal(out, &st) != nil || len(st) != 1 {
		return daemonFilesStatus{}, false
	}
	return st[0], true
}

// daemonFilesStatus is what the benchmark reads of `files status --json`.
type daemonFilesStatus struct {
	PendingUp   int        `json:"pending_up"`
	PendingDown int        `json:"pending_down"`
	LastSync    *time.Time `json:"last_sync"`
}

// bigFileRun is one direction of the big-file step.
type bigFileRun struct {
	name    string
	run     run
	samples rssSamples
	every   time.Duration
}

// middle are the samples of the middle 80 % of the run.
func (r bigFileRun) middle() rssSamples {
	n := len(r.samples)
	if n < 10 {
		return r.samples
	}
	return r.samples[n/10 : n-n/10]
}

func (r bigFileRun) String() string {
	lo, hi := r.samples.minMax()
	mlo, mhi := r.middle().minMax()
	return fmt.Sprintf("  %-36s wall %s, peak RSS %s; RSS every %v (%d samples): %s–%s, in the middle 80 %% of the run %s–%s; CPU %.1fs\n",
		r.name, fmtWall(r.run.Wall), rssCol(r.run), r.every, len(r.samples), fmtRSS(lo), fmtRSS(hi), fmtRSS(mlo), fmtRSS(mhi),
		(r.run.User + r.run.Sys).Seconds())
}

// bigFile syncs one file of -big-mb MB (pseudo-random data, written once
// into a cache directory) up to an empty server folder and down into an
// empty local folder with holdover on loopback, sampling its RSS.
func (b *filesBench) bigFile() []bigFileRun {
	t := b.t
	t.Helper()
	size := int64(*flagBigFileMB) << 20
	cache := filepath.Join(os.TempDir(), fmt.Sprintf("holdover-bench-files-big-v%d-%dMB", fileGenVersion, *flagBigFileMB))
	src := filepath.Join(cache, "big.bin")
	sumFile := filepath.Join(cache, "big.sha256")
	want, err := os.ReadFile(sumFile)
	if err != nil {
		start := time.Now()
		if err := os.MkdirAll(cache, 0o755); err != nil {
			t.Fatal(err)
		}
		sum, err := writeGenFile(src, 2048, size, genNow)
		if err != nil {
			t.Fatal(err)
		}
		want = []byte(sum)
		if err := os.WriteFile(sumFile, want, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote the %d MB file in %v", *flagBigFileMB, time.Since(start).Round(time.Millisecond))
	}
	// A server of its own: Apache refuses a body of more than 1 GiB by
	// default (413), and the point here is holdover's memory.
	a := testenv.StartApacheWith(t, testenv.ApacheOptions{DepthInfinity: *flagDepthInf, UnlimitedBody: true})
	server := filepath.Join(a.Root, "big")
	o, err := ownerOf(a.Root)
	if err != nil {
		t.Fatal(err)
	}
	if err := emptyDir(server, o); err != nil {
		t.Fatal(err)
	}
	url := a.URL + "big/"
	every := 100 * time.Millisecond
	var out []bigFileRun
	for _, dir := range []string{"up", "down"} {
		if b.lastDir != "" {
			os.RemoveAll(b.lastDir)
		}
		d := filepath.Join(b.tmp, "big-"+dir)
		b.lastDir = d
		local := filepath.Join(d, "Sync")
		if err := os.MkdirAll(local, 0o700); err != nil {
			t.Fatal(err)
		}
		if dir == "up" {
			if out, err := exec.Command("cp", "-a", src, local).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v: %s", err, out)
			}
		}
		h := newFilesHoldover(t, b.bin, d, url, local, a)
		time.Sleep(*flagSettle)
		r, samples := h.syncSampled(t, every)
		check := server
		if dir == "down" {
			check = local
		}
		got, err := hashTree(check)
		if err != nil {
			t.Fatal(err)
		}
		if d := diffTrees(got, map[string]string{"big.bin": string(want)}); d != "" {
			msg := fmt.Sprintf("the %d MB file, %s: %s differs: %s (holdover said: %s)", *flagBigFileMB, dir, check, d, summary(r.Output, "files"))
			t.Error(msg)
			b.wrong = append(b.wrong, msg)
			break // nothing to download
		}
		name := fmt.Sprintf("%d MB file, folder → empty server", *flagBigFileMB)
		if dir == "down" {
			name = fmt.Sprintf("%d MB file, server → empty folder", *flagBigFileMB)
		}
		out = append(out, bigFileRun{name: name, run: r, samples: samples, every: every})
	}
	return out
}

func filesVerdicts(tables []cmpTable, lats []latencyResult, big []bigFileRun, b *filesBench) string {
	var out bytes.Buffer
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Fprintf(&out, "\n")
	if len(tables) > 0 {
		for i, r := range tables[0].rows {
			var parts []string
			for _, tb := range tables {
				r := tb.rows[i]
				if len(r.v) == 0 {
					parts = append(parts, tb.link+": n/a (no rclone)")
					continue
				}
				parts = append(parts, fmt.Sprintf("%s: %s (%.3fx)", tb.link, verdict(r.ratio() <= r.goal), r.ratio()))
			}
			fmt.Fprintf(&out, "verdict %s <= %.1fx rclone bisync's wall time: %s\n", r.name, r.goal, strings.Join(parts, "; "))
		}
	}
	for _, l := range lats {
		s := slices.Clone(l.lat)
		slices.Sort(s)
		if len(s) == 0 {
			fmt.Fprintf(&out, "verdict (d) write -> on the server <= %v, %s: NOT met (no write reached the server)\n", goalFilesLatency, l.link)
			continue
		}
		worst := s[len(s)-1]
		fmt.Fprintf(&out, "verdict (d) write -> on the server <= %v, %s: %s (every write; max %.2fs, median %.2fs)\n", goalFilesLatency, l.link,
			verdict(l.failed == 0 && worst <= goalFilesLatency), worst.Seconds(), s[len(s)/2].Seconds())
	}
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
	for _, l := range lats {
		if l.hwmKB > maxKB {
			maxKB, what = l.hwmKB, "the daemon, "+l.link
		}
	}
	flat := true
	var flatWhat []string
	for _, r := range big {
		if r.run.MaxRSSKB > maxKB {
			maxKB, what = r.run.MaxRSSKB, r.name
		}
		lo, hi := r.middle().minMax()
		flat = flat && hi-lo <= goalFilesFlatKB
		flatWhat = append(flatWhat, fmt.Sprintf("%s: %s–%s", r.name, fmtRSS(lo), fmtRSS(hi)))
	}
	fmt.Fprintf(&out, "verdict holdover peak RSS <= %d MB: %s (max %s, in %s)\n", goalFilesRSSKB>>10, verdict(maxKB <= goalFilesRSSKB), fmtRSS(maxKB), what)
	if len(big) > 0 {
		fmt.Fprintf(&out, "verdict RSS flat while the big file syncs (varies <= %d MB in the middle 80 %% of the run): %s (%s)\n",
			goalFilesFlatKB>>10, verdict(flat), strings.Join(flatWhat, "; "))
	}
	if len(b.wrong) == 0 {
		fmt.Fprintf(&out, "verdict both sides equal after every run, both tools: met\n")
	} else {
		fmt.Fprintf(&out, "verdict both sides equal after every run, both tools: NOT MET, THE FIGURES ABOVE ARE NOT VALID FOR THE TOOL CONCERNED:\n  %s\n",
			strings.Join(b.wrong, "\n  "))
	}
	return out.String()
}
