//go:build linux

package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/internal/testenv"
)

// run is one measured child process.
type run struct {
	Wall      time.Duration
	MaxRSSKB  int64
	RSSBound  bool // MaxRSSKB is only an upper bound (no GNU time)
	User, Sys time.Duration
	WrittenMB float64 // written to disk (ru_oublock), page cache writeback included
	Output    string
}

// gnuTime is GNU time (Debian package time), which measures peak RSS
// exactly; "" when it is missing.
var gnuTime = func() string {
	if _, err := os.Stat("/usr/bin/time"); err == nil {
		return "/usr/bin/time"
	}
	return ""
}()

// measure runs argv as a child and records its wall time, CPU time and
// peak RSS (ru_maxrss, KB on Linux).
//
// The peak RSS is not read from the rusage of a child started by
// os/exec: Go starts children with vfork semantics (CLONE_VM), and at
// execve Linux folds the high-water RSS of the replaced mm, which is this
// test process's, into the child's ru_maxrss, so every child would report
// at least this process's peak. GNU time forks a genuinely new, tiny
// process, so its %M is the child's own peak.
func measure(t *testing.T, env []string, argv ...string) run {
	t.Helper()
	r, _ := measureSampled(t, env, 0, argv...)
	return r
}

// rssSamples are the resident sizes (VmRSS, KB) of a measured process,
// read from /proc every so often while it ran.
type rssSamples []int64

func (s rssSamples) minMax() (lo, hi int64) {
	if len(s) == 0 {
		return 0, 0
	}
	return slices.Min(s), slices.Max(s)
}

// measureSampled is measure that also reads the process's VmRSS every
// interval (none when 0). Under GNU time the process sampled is GNU
// time's child, the measured program.
func measureSampled(t *testing.T, env []string, every time.Duration, argv ...string) (run, rssSamples) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	rusageFile := filepath.Join(t.TempDir(), "rusage")
	if gnuTime != "" {
		argv = append([]string{gnuTime, "-q", "-o", rusageFile, "-f", "%M"}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Start()
	var samples rssSamples
	if err == nil {
		stop, sampled := make(chan struct{}), make(chan struct{})
		if every > 0 {
			go func() {
				defer close(sampled)
				samples = sampleRSS(cmd.Process.Pid, gnuTime != "", every, stop)
			}()
		} else {
			close(sampled)
		}
		err = cmd.Wait()
		close(stop)
		<-sampled
	}
	wall := time.Since(start)
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage) // CPU and I/O include reaped children
	r := run{
		Wall: wall, MaxRSSKB: ru.Maxrss, RSSBound: gnuTime == "", Output: out.String(),
		User: time.Duration(ru.Utime.Nano()), Sys: time.Duration(ru.Stime.Nano()),
		WrittenMB: float64(ru.Oublock) * 512 / (1 << 20),
	}
	if gnuTime != "" {
		b, err := os.ReadFile(rusageFile)
		if err == nil {
			r.MaxRSSKB, err = strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		}
		if err != nil {
			t.Fatalf("GNU time output %q: %v", b, err)
		}
	}
	return r, samples
}

// sampleRSS reads the VmRSS of pid (of its first child when child is
// set: GNU time's) every interval until stop is closed or it is gone.
func sampleRSS(pid int, child bool, every time.Duration, stop <-chan struct{}) rssSamples {
	var samples rssSamples
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		p := pid
		if child {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
			if f := strings.Fields(string(b)); len(f) > 0 {
				p, _ = strconv.Atoi(f[0])
			} else {
				p = 0
			}
		}
		if p > 0 {
			if kb, ok := procStatusKB(p, "VmRSS"); ok {
				samples = append(samples, kb)
			}
		}
		select {
		case <-stop:
			return samples
		case <-tick.C:
		}
	}
}

// procStatusKB reads a field given in kB ("VmRSS", "VmHWM") of
// /proc/<pid>/status.
func procStatusKB(pid int, field string) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb, err == nil
		}
	}
	return 0, false
}

// median returns the run with the median wall time (n odd).
func median(runs []run) run {
	s := slices.Clone(runs)
	slices.SortFunc(s, func(a, b run) int { return int(a.Wall - b.Wall) })
	return s[len(s)/2]
}

// buildHoldover builds the CLI from the repository root (the test runs in
// bench/) into dir.
func buildHoldover(dir string) (string, error) {
	bin := filepath.Join(dir, "bin", "holdover")
	cmd := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", bin, "./cmd/holdover")
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
}

const pwEnv = "HOLDOVER_BENCH_PW"

// holdoverTool is holdover with its own data directory.
type holdoverTool struct {
	bin, cfg string
	dataDir  string
	env      []string
	service  string   // what the account "bench" syncs: "mail", "calendar" or "files" (the line sync checks)
	syncArgs []string // the command sync runs; nil is "sync --once"
	perfOut  string   // when set, the next sync runs under perf record into this file
	pprofOut string   // when set, the next sync writes a Go CPU profile here (HOLDOVER_CPUPROFILE)
}

// newHoldoverTool writes a config with one account, "bench", whose
// settings are account (YAML, indented for its place below "- name:"),
// and a data directory of its own below dir.
func newHoldoverTool(t *testing.T, bin, dir, service, account string, env []string) *holdoverTool {
	t.Helper()
	h := &holdoverTool{bin: bin, cfg: filepath.Join(dir, "config.yaml"), dataDir: filepath.Join(dir, "data"), env: env, service: service}
	cfg := fmt.Sprintf(`data_dir: %s
listen: {http: "", smtp: ""}
accounts:
  - name: bench
%s`, h.dataDir, account)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(h.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return h
}

// newHoldover is holdover syncing d's mailbox through port (d's own, or a
// proxy's in front of it).
func newHoldover(t *testing.T, bin, dir string, d *testenv.Dovecot, port int, include []string) *holdoverTool {
	t.Helper()
	folders := ""
	if len(include) > 0 {
		folders = fmt.Sprintf("      folders: {include: [%s]}\n", strings.Join(include, ", "))
	}
	account := fmt.Sprintf(`    mail:
      imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: %s}
%s`, port, d.User, pwEnv, folders)
	return newHoldoverTool(t, bin, dir, "mail", account, []string{pwEnv + "=" + d.Password})
}

func (h *holdoverTool) sync(t *testing.T) run {
	t.Helper()
	r, _ := h.syncSampled(t, 0)
	return r
}

// syncSampled is sync that also samples the process's RSS every interval
// (see measureSampled).
func (h *holdoverTool) syncSampled(t *testing.T, every time.Duration) (run, rssSamples) {
	t.Helper()
	args := h.syncArgs
	if args == nil {
		args = []string{"sync", "--once"}
	}
	argv := append([]string{h.bin, "--config", h.cfg}, args...)
	if h.perfOut != "" {
		argv = append([]string{"perf", "record", "-q", "-F", "997", "-g", "-o", h.perfOut, "--"}, argv...)
	}
	env := h.env
	if h.pprofOut != "" {
		env = append(slices.Clone(env), "HOLDOVER_CPUPROFILE="+h.pprofOut)
	}
	r, samples := measureSampled(t, env, every, argv...)
	if !strings.Contains(r.Output, "bench: "+h.service+" ") || strings.Contains(r.Output, "bench: error") {
		t.Fatalf("holdover %s did not report a clean pass:\n%s", strings.Join(args, " "), r.Output)
	}
	return r, samples
}

// counts reads `mail folders --json` (only the store, no network).
func (h *holdoverTool) counts(t *testing.T) mailStats {
	t.Helper()
	r := measure(t, h.env, h.bin, "--config", h.cfg, "mail", "folders", "--json")
	var folders []struct {
		Name             string
		Messages, Unread int
	}
	if err := json.Unmarshal([]byte(r.Output), &folders); err != nil {
		t.Fatalf("mail folders --json: %v\n%s", err, r.Output)
	}
	got := mailStats{}
	for _, f := range folders {
		got[f.Name] = folderCount{f.Messages, f.Unread}
	}
	return got
}

// summary is the line holdover prints for the account's service ("mail"
// or "calendar").
func summary(out, service string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "bench: "+service+" ") {
			return l
		}
	}
	return strings.TrimSpace(out)
}

// mbsyncTool is mbsync (isync 1.4) pulling into its own maildir tree.
type mbsyncTool struct {
	cfg, dir string
}

func newMbsync(t *testing.T, dir string, d *testenv.Dovecot, port int, patterns string) *mbsyncTool {
	t.Helper()
	m := &mbsyncTool{cfg: filepath.Join(dir, "mbsyncrc"), dir: filepath.Join(dir, "mail")}
	// isync 1.4 names: SSLType (TLSType is 1.5), Far/Near. AuthMechs LOGIN
	// is explicit: the connection is plaintext (loopback only).
	cfg := fmt.Sprintf(`IMAPAccount bench
Host 127.0.0.1
Port %d
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore bench-far
Account bench

MaildirStore bench-near
Path %s/
Inbox %s/INBOX
SubFolders Verbatim

Channel bench
Far :bench-far:
Near :bench-near:
Patterns %s
Sync Pull
Create Near
SyncState *
`, port, d.User, d.Password, m.dir, m.dir, patterns)
	if err := os.MkdirAll(m.dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.cfg, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *mbsyncTool) sync(t *testing.T) run {
	t.Helper()
	return measure(t, nil, "mbsync", "-c", m.cfg, "-a")
}

// counts counts the messages (and those without the S flag) in each
// folder of the local maildir tree.
func (m *mbsyncTool) counts(t *testing.T) mailStats {
	t.Helper()
	got := mailStats{}
	dirs, err := os.ReadDir(m.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		fc := folderCount{}
		for _, sub := range []string{"cur", "new"} {
			files, err := os.ReadDir(filepath.Join(m.dir, d.Name(), sub))
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range files {
				fc.Messages++
				if _, info, _ := strings.Cut(f.Name(), ":2,"); !strings.Contains(info, "S") {
					fc.Unread++
				}
			}
		}
		got[d.Name()] = fc
	}
	return got
}

// checkCounts fails unless got has want's counts for every folder of want
// (a folder missing from got counts as empty).
func checkCounts(t *testing.T, who string, got, want mailStats) {
	t.Helper()
	var bad []string
	for name, w := range want {
		if g := got[name]; g != w {
			bad = append(bad, fmt.Sprintf("%s: %d messages/%d unread, want %d/%d", name, g.Messages, g.Unread, w.Messages, w.Unread))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Fatalf("%s does not mirror the server:\n  %s", who, strings.Join(bad, "\n  "))
	}
}

func dialIMAP(t *testing.T, d *testenv.Dovecot) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login(d.User, d.Password).Wait(); err != nil {
		t.Fatal(err)
	}
	return c
}

// serverCounts asks the server for every folder's counts (STATUS).
func serverCounts(t *testing.T, d *testenv.Dovecot) mailStats {
	t.Helper()
	c := dialIMAP(t, d)
	defer c.Close()
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		t.Fatal(err)
	}
	got := mailStats{}
	for _, l := range list {
		st, err := c.Status(l.Mailbox, &imap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
		if err != nil {
			t.Fatal(err)
		}
		got[l.Mailbox] = folderCount{int(*st.NumMessages), int(*st.NumUnseen)}
	}
	return got
}

// warmUp has Dovecot index every folder and cache what both tools fetch,
// as on a server that has served the mailbox for a while, so neither
// tool pays for Dovecot's first scan of the maildirs.
func warmUp(t *testing.T, d *testenv.Dovecot, folders []string) {
	t.Helper()
	c := dialIMAP(t, d)
	defer c.Close()
	for _, f := range folders {
		sel, err := c.Select(f, nil).Wait()
		if err != nil {
			t.Fatalf("select %s: %v", f, err)
		}
		if sel.NumMessages == 0 {
			continue
		}
		var all imap.SeqSet
		all.AddRange(1, 0)
		cmd := c.Fetch(all, &imap.FetchOptions{
			UID: true, Flags: true, InternalDate: true, RFC822Size: true, Envelope: true,
			BodySection: []*imap.FetchItemBodySection{{Specifier: imap.PartSpecifierHeader, HeaderFields: []string{"Message-ID", "X-TUID"}, Peek: true}},
		})
		if _, err := cmd.Collect(); err != nil {
			t.Fatalf("fetch %s: %v", f, err)
		}
	}
}

// applyChanges changes the flags of nFlags distinct random messages (one
// STORE each: \Seen toggled, every third also \Flagged toggled) and
// APPENDs nNew new messages, all over IMAP.
func applyChanges(t *testing.T, d *testenv.Dovecot, g *gen, counts []int, nFlags, nNew int) {
	t.Helper()
	c := dialIMAP(t, d)
	defer c.Close()
	total := 0
	for _, n := range counts {
		total += n
	}
	nFlags = min(nFlags, total)
	chosen := map[int][]uint32{} // folder index -> sequence numbers
	seen := map[int]bool{}
	for len(seen) < nFlags {
		k := g.r.IntN(total)
		if seen[k] {
			continue
		}
		seen[k] = true
		fi, seq := 0, k
		for seq >= counts[fi] {
			seq -= counts[fi]
			fi++
		}
		chosen[fi] = append(chosen[fi], uint32(seq+1))
	}
	changed := 0
	for fi := range benchFolders {
		seqs := chosen[fi]
		if len(seqs) == 0 {
			continue
		}
		if _, err := c.Select(benchFolders[fi].Name, nil).Wait(); err != nil {
			t.Fatal(err)
		}
		msgs, err := c.Fetch(imap.SeqSetNum(seqs...), &imap.FetchOptions{Flags: true}).Collect()
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			var flags []imap.Flag
			hasSeen, hasFlagged := false, false
			for _, f := range m.Flags {
				switch f {
				case imap.FlagSeen:
					hasSeen = true
				case imap.FlagFlagged:
					hasFlagged = true
				case "\\Recent":
				default:
					flags = append(flags, f)
				}
			}
			if !hasSeen {
				flags = append(flags, imap.FlagSeen)
			}
			if hasFlagged != (changed%3 == 0) {
				flags = append(flags, imap.FlagFlagged)
			}
			store := &imap.StoreFlags{Op: imap.StoreFlagsSet, Silent: true, Flags: flags}
			if err := c.Store(imap.SeqSetNum(m.SeqNum), store, nil).Close(); err != nil {
				t.Fatal(err)
			}
			changed++
		}
	}
	if changed != nFlags {
		t.Fatalf("changed the flags of %d messages, want %d", changed, nFlags)
	}
	for i := 0; i < nNew; i++ {
		f := benchFolders[[]int{0, 0, 0, 0, 0, 0, 3, 4, 4, 5}[g.r.IntN(10)]]
		date := genNow.Add(time.Duration(i+1) * time.Minute)
		raw, flags := g.message(msgSpec{Folder: f.Name, Date: date}, flagOdds{Seen: 0.2, Flagged: 0.05})
		opts := &imap.AppendOptions{Time: date}
		if strings.Contains(flags, "S") {
			opts.Flags = []imap.Flag{imap.FlagSeen}
		}
		crlf := bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))
		cmd := c.Append(f.Name, int64(len(crlf)), opts)
		if _, err := cmd.Write(crlf); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		if _, err := cmd.Wait(); err != nil {
			t.Fatalf("append to %s: %v", f.Name, err)
		}
	}
}

// dirSize is the total size of the files below dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// filesIn lists the regular files of dir with their sizes in MB.
func filesIn(dir string) string {
	entries, _ := os.ReadDir(dir)
	var out []string
	for _, e := range entries {
		if fi, err := e.Info(); err == nil && fi.Mode().IsRegular() {
			out = append(out, fmt.Sprintf("%s %.1f MB", e.Name(), mb(fi.Size())))
		}
	}
	return strings.Join(out, ", ")
}

// shout logs msg framed by a line of "!" above and below, for what the
// reader of a benchmark's output must not miss (a reference tool or GNU
// time missing).
func shout(t *testing.T, msg string) {
	t.Helper()
	bang := strings.Repeat("!", len(msg))
	t.Logf("\n%s\n%s\n%s", bang, msg, bang)
}

func mb(b int64) float64 { return float64(b) / (1 << 20) }

func fmtWall(d time.Duration) string {
	if d < 10*time.Second {
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
	return fmt.Sprintf("%.1fs", d.Seconds())
}

func walls(runs []run) string {
	var s []string
	for _, r := range runs {
		s = append(s, fmtWall(r.Wall))
	}
	return strings.Join(s, " ")
}

func fmtRSS(kb int64) string { return fmt.Sprintf("%.0f MB", float64(kb)/1024) }

func rssCol(r run) string {
	if r.RSSBound {
		return "<=" + fmtRSS(r.MaxRSSKB)
	}
	return fmtRSS(r.MaxRSSKB)
}
