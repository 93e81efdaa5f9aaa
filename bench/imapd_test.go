//go:build linux

package bench

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/internal/testenv"
)

var (
	flagPairs      = flag.Int("pairs", 5, "imapd: full pulls by mbsync, from holdover's endpoint and from Dovecot in turn")
	flagLatencyRun = flag.Int("imap-latency-runs", 21, "imapd: runs of the envelope page and of the TEXT SEARCH (min/median/max)")
)

// Issue 15's goals for the IMAP endpoint benchmark.
const (
	goalIMAPDPull     = 1.2 // mbsync's full pull from holdover over the same from Dovecot (medians)
	goalIMAPDEnvelope = 20 * time.Millisecond
	goalIMAPDSearch   = 50 * time.Millisecond
	localPwEnv        = "HOLDOVER_BENCH_LOCAL_PW"
	localPw           = "bench-local"
)

// TestIMAPDBenchmark is the IMAP endpoint benchmark (issue 15): over the
// generated mailbox, mbsync pulls everything from holdover's endpoint
// (holdover run, its mirror filled by one sync --once) and from Dovecot
// itself, each into an empty Maildir, in turn (A B A B); then a FETCH of
// 50 envelopes and a TEXT SEARCH of INBOX, on both servers. Run it with
// bench/imapd.sh [messages].
func TestIMAPDBenchmark(t *testing.T) {
	if os.Getenv("HOLDOVER_BENCH") != "1" {
		t.Skip("IMAP endpoint benchmark: runs only with HOLDOVER_BENCH=1 (bench/imapd.sh sets it)")
	}
	if _, err := exec.LookPath("mbsync"); err != nil {
		t.Fatal("mbsync (Debian package isync) not installed: apt-get install isync")
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
	start := time.Now()
	want, genBytes, err := generateMailbox(newGen(4), d.MailDir, n, nAttach, o)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range benchFolders {
		names = append(names, f.Name)
	}
	warmUp(t, d, names)
	checkCounts(t, "Dovecot", serverCounts(t, d), want)
	t.Logf("generated and indexed %d messages (%.0f MB) in %v", n, mb(genBytes), time.Since(start).Round(time.Millisecond))
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	// holdover's mirror, then its daemon serving it on listen.imap.
	addr := freeLoopback(t)
	account := fmt.Sprintf(`    mail:
      imap: {host: 127.0.0.1, port: %d, tls: none, username: %s, password_env: %s}
      local: {username: bench, password_env: %s}
`, d.Port, d.User, pwEnv, localPwEnv)
	h := newHoldoverTool(t, bin, filepath.Join(tmp, "holdover"), "mail", account, []string{pwEnv + "=" + d.Password, localPwEnv + "=" + localPw})
	cfg, err := os.ReadFile(h.cfg)
	if err != nil {
		t.Fatal(err)
	}
	cfg = bytes.Replace(cfg, []byte(`listen: {http: "", smtp: ""}`), []byte(fmt.Sprintf(`listen: {http: "", smtp: "", imap: "%s"}`, addr)), 1)
	if err := os.WriteFile(h.cfg, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	mirror := h.sync(t)
	checkCounts(t, "holdover", h.counts(t), want)
	t.Logf("holdover mirrored the mailbox in %s", fmtWall(mirror.Wall))
	profile := ""
	if *flagPprof != "" {
		if err := os.MkdirAll(*flagPprof, 0o755); err != nil {
			t.Fatal(err)
		}
		profile = filepath.Join(*flagPprof, "imapd.pprof")
	}
	stop := runDaemon(t, h, addr, profile)

	endpoint := func(dir string) *mbsyncTool {
		m := newMbsync(t, dir, d, 0, "*")
		rc, err := os.ReadFile(m.cfg)
		if err != nil {
			t.Fatal(err)
		}
		host, port, _ := net.SplitHostPort(addr)
		rc = bytes.Replace(rc, []byte("Host 127.0.0.1\nPort 0\nUser "+d.User+"\nPass "+d.Password+"\n"),
			[]byte("Host "+host+"\nPort "+port+"\nUser bench\nPass "+localPw+"\n"), 1)
		if !bytes.Contains(rc, []byte("User bench")) {
			t.Fatalf("mbsyncrc not rewritten:\n%s", rc)
		}
		if err := os.WriteFile(m.cfg, rc, 0o600); err != nil {
			t.Fatal(err)
		}
		return m
	}
	row := cmpRow{name: fmt.Sprintf("full pull by mbsync, %d msg", n), tag: "pull", goal: goalIMAPDPull}
	for i := range *flagPairs {
		a := endpoint(filepath.Join(tmp, fmt.Sprintf("from-holdover-%d", i)))
		time.Sleep(*flagSettle)
		row.h = append(row.h, toolRun{run: a.sync(t)})
		checkCounts(t, "mbsync from holdover", a.counts(t), want)
		b := newMbsync(t, filepath.Join(tmp, fmt.Sprintf("from-dovecot-%d", i)), d, d.Port, "*")
		time.Sleep(*flagSettle)
		row.v = append(row.v, toolRun{run: b.sync(t)})
		checkCounts(t, "mbsync from Dovecot", b.counts(t), want)
		t.Logf("pair %d: from holdover %s, from Dovecot %s", i+1, fmtWall(row.h[i].Wall), fmtWall(row.v[i].Wall))
	}

	hc := loginIMAP(t, addr, "bench", localPw)
	dc := dialIMAP(t, d)
	defer dc.Close()
	envH, searchH := latencies(t, hc, *flagLatencyRun)
	envD, searchD := latencies(t, dc, *flagLatencyRun)
	stop()

	tb := cmpTable{link: "loopback", ref: "Dovecot", rows: []cmpRow{row}}
	fmt.Printf("\nIMAP endpoint benchmark: %d messages (%.0f MB) in %d folders; Dovecot %s; %s\n", n, mb(genBytes), len(benchFolders), version("dovecot", "--version"), version("mbsync", "--version"))
	fmt.Printf("full pull: mbsync (Sync Pull, every folder) into an empty Maildir, from holdover's endpoint (column holdover) and from Dovecot, in turn, %d pairs; wall min/median/max, maxRSS is mbsync's; ratio of the medians.\n", *flagPairs)
	fmt.Printf("Noisy: 2 cores shared by the server, mbsync and other work on the machine.\n")
	fmt.Print(tb.String())
	fmt.Print(mailPairs(tb))
	fmt.Printf("\nINBOX (%d messages), %d runs each, min / median / max:\n", want["INBOX"].Messages, *flagLatencyRun)
	fmt.Printf("  %-28s %-26s %s\n", "", "holdover", "Dovecot")
	fmt.Printf("  %-28s %-26s %s\n", "FETCH 50 envelopes (last 50)", durs(envH), durs(envD))
	fmt.Printf("  %-28s %-26s %s\n", "UID SEARCH TEXT "+searchWord, durs(searchH), durs(searchD))
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	fmt.Printf("\ngoals (issue 15): full pull <= %.1fx Dovecot: %s (%.2fx); envelope page <= %v: %s (%v); TEXT SEARCH <= %v: %s (%v)\n",
		goalIMAPDPull, verdict(row.ratio() <= goalIMAPDPull), row.ratio(),
		goalIMAPDEnvelope, verdict(medianDur(envH) <= goalIMAPDEnvelope), medianDur(envH).Round(time.Microsecond*100),
		goalIMAPDSearch, verdict(medianDur(searchH) <= goalIMAPDSearch), medianDur(searchH).Round(time.Microsecond*100))
	if profile != "" {
		fmt.Printf("pprof: the daemon's whole run: go tool pprof -top %s %s\n", bin, profile)
	}
}

// searchWord is a word of the generator's vocabulary that a few percent
// of the messages have.
const searchWord = "postmortem"

// latencies times, on c, runs of a FETCH of INBOX's last 50 envelopes
// (a mail app's message list page) and of a UID SEARCH TEXT.
func latencies(t *testing.T, c *imapclient.Client, runs int) (env, search []time.Duration) {
	t.Helper()
	sel, err := c.Select("INBOX", &imap.SelectOptions{ReadOnly: true}).Wait()
	if err != nil {
		t.Fatal(err)
	}
	var page imap.SeqSet
	page.AddRange(sel.NumMessages-49, sel.NumMessages)
	for range runs {
		start := time.Now()
		msgs, err := c.Fetch(page, &imap.FetchOptions{UID: true, Flags: true, Envelope: true, RFC822Size: true, InternalDate: true}).Collect()
		if err != nil || len(msgs) != 50 {
			t.Fatalf("envelope page: %d messages, %v", len(msgs), err)
		}
		env = append(env, time.Since(start))
		start = time.Now()
		data, err := c.UIDSearch(&imap.SearchCriteria{Text: []string{searchWord}}, nil).Wait()
		if err != nil || len(data.AllUIDs()) == 0 {
			t.Fatalf("SEARCH TEXT %s: %v, %v", searchWord, data, err)
		}
		search = append(search, time.Since(start))
	}
	return env, search
}

func medianDur(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func durs(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond)) }
	return ms(s[0]) + " / " + ms(s[len(s)/2]) + " / " + ms(s[len(s)-1])
}

// freeLoopback is a loopback address nothing listens on now.
func freeLoopback(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func loginIMAP(t *testing.T, addr, user, pass string) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("login to %s: %v", addr, err)
	}
	return c
}

// runDaemon starts `holdover run` on h's config (with a CPU profile of
// the whole run when profile is set) and waits until its IMAP endpoint
// takes a login. stop ends it with SIGINT (so the profile is written).
func runDaemon(t *testing.T, h *holdoverTool, addr, profile string) (stop func()) {
	t.Helper()
	cmd := exec.Command(h.bin, "--config", h.cfg, "run")
	cmd.Env = append(os.Environ(), h.env...)
	if profile != "" {
		cmd.Env = append(cmd.Env, "HOLDOVER_CPUPROFILE="+profile)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("holdover run did not stop on SIGINT:\n%s", out.String())
		}
	}
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for ctx.Err() == nil {
		if c, err := imapclient.DialInsecure(addr, nil); err == nil {
			err = c.Login("bench", localPw).Wait()
			c.Close()
			if err == nil {
				return stop
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("holdover run: the IMAP endpoint on %s did not take a login within a minute:\n%s", addr, out.String())
	return nil
}
