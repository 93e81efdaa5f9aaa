package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// holdoverBin builds the real binary once per test run.
func holdoverBin(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "holdover-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "holdover")
		out, err := exec.Command("go", "build", "-tags", "sqlite_fts5", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = err
			binPath = string(out)
		}
	})
	if buildErr != nil {
		t.Fatalf("build holdover: %v\n%s", buildErr, binPath)
	}
	return binPath
}

type proc struct {
	cmd  *exec.Cmd
	logs *bytes.Buffer
	mu   *sync.Mutex
	done chan error
}

func (p *proc) log() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(b)
}

// startDaemon runs `holdover run` as a child process and waits until its
// control socket answers.
func startDaemon(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{logs: &bytes.Buffer{}, mu: &sync.Mutex{}, done: make(chan error, 1)}
	p.cmd = exec.Command(holdoverBin(t), append(args, "run")...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stderr = lockedWriter{p.mu, p.logs}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(p.log(), "holdover started") {
			return p
		}
		select {
		case err := <-p.done:
			t.Fatalf("daemon exited early: %v\n%s", err, p.log())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("daemon did not start:\n%s", p.log())
	return nil
}

func (p *proc) waitExit(t *testing.T) error {
	t.Helper()
	select {
	case err := <-p.done:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("daemon did not exit:\n%s", p.log())
		return nil
	}
}

func runBin(t *testing.T, env []string, args ...string) (int, string, string) {
	t.Helper()
	return runBinInput(t, env, "", args...)
}

// runBinInput runs the binary with stdin and returns its exit code and
// outputs.
func runBinInput(t *testing.T, env []string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(holdoverBin(t), args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, out.String(), errb.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDaemonLifecycleSighupAndSigterm(t *testing.T) {
	cfg, data := writeTestConfig(t)
	flags := []string{"--config", cfg}
	p := startDaemon(t, nil, flags...)

	code, out, stderr := runBin(t, nil, append(flags, "status", "--json")...)
	var st struct {
		Daemon struct {
			Running bool
			PID     int
			Info    *struct {
				Reload struct {
					OK         bool
					Generation int
					Error      string
				}
			}
		}
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.Daemon.Running || st.Daemon.PID != p.cmd.Process.Pid || st.Daemon.Info == nil {
		t.Fatalf("status --json: exit %d, %s %s", code, out, stderr)
	}

	code, _, stderr = runBin(t, nil, append(flags, "run")...)
	if code != 1 || !strings.Contains(stderr, "another holdover daemon") || !strings.Contains(stderr, data) {
		t.Fatalf("second daemon: exit %d, %s", code, stderr)
	}

	// Break the config, SIGHUP: the daemon keeps running and says why.
	good, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, append(good, []byte("bogus_key: 1\n")...), 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "rejection logged", func() bool { return strings.Contains(p.log(), "configuration rejected") })
	code, out, _ = runBin(t, nil, append(flags, "status")...)
	if code != 0 || !strings.Contains(out, "REJECTED") || !strings.Contains(out, "bogus_key") {
		t.Fatalf("status after a rejected reload: exit %d\n%s", code, out)
	}

	// Fix it: applied on the next SIGHUP.
	os.WriteFile(cfg, good, 0o600)
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, "reload logged", func() bool { return strings.Contains(p.log(), "generation=2") })

	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.waitExit(t); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.log())
	}
	if !strings.Contains(p.log(), "holdover stopped") {
		t.Fatalf("no clean stop logged:\n%s", p.log())
	}
	code, out, _ = runBin(t, nil, append(flags, "status")...)
	if code != 0 || !strings.Contains(out, "daemon: not running") {
		t.Fatalf("status after stop: exit %d\n%s", code, out)
	}
	code, out, _ = runBin(t, nil, append(flags, "db", "check")...)
	if code != 0 || !strings.Contains(out, "integrity: ok") {
		t.Fatalf("db check after stop: exit %d\n%s", code, out)
	}
	if strings.Contains(p.log(), "s3cr3t") {
		t.Fatal("a secret reached the logs")
	}
}

// The README's first command: the daemon on the shipped example config,
// with HOME pointed at a temp dir so data_dir (~/.local/share/holdover)
// lands there.
func TestExampleConfigRuns(t *testing.T) {
	home := t.TempDir()
	example, err := filepath.Abs("../../examples/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	// The example listens on the default ports; move them so parallel test
	// runs do not collide. HOLDOVER_CONFIG is the documented way in.
	text, _ := os.ReadFile(example)
	cfg := filepath.Join(home, "config.yaml")
	text = bytes.ReplaceAll(text, []byte("127.0.0.1:7878"), []byte(freeAddr(t)))
	text = bytes.ReplaceAll(text, []byte("127.0.0.1:1587"), []byte(freeAddr(t)))
	os.WriteFile(cfg, text, 0o600)
	env := []string{"HOME=" + home, "XDG_DATA_HOME=", "XDG_CONFIG_HOME=", "HOLDOVER_CONFIG=" + cfg}
	p := startDaemon(t, env)
	code, out, stderr := runBin(t, env, "status")
	if code != 0 || !strings.Contains(out, "account work") || !strings.Contains(out, "account home") {
		t.Fatalf("status: exit %d\n%s%s", code, out, stderr)
	}
	if _, err := os.Stat(filepath.Join(home, ".local/share/holdover/holdover.db")); err != nil {
		t.Fatalf("database not under ~/.local/share/holdover: %v", err)
	}
	if !strings.Contains(out, "status page: http://127.0.0.1:") {
		t.Fatalf("status does not print the page's link:\n%s", out)
	}
	// holdover open --print: a link that opens a browser session once.
	code, out, stderr = runBin(t, env, "open", "--print")
	link := strings.TrimSpace(out)
	if code != 0 || !strings.Contains(link, "/login?code=") {
		t.Fatalf("open --print: exit %d %q %s", code, out, stderr)
	}
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(page), `id="account-work"`) {
		t.Fatalf("the link opened %d:\n%s", resp.StatusCode, page)
	}
	if resp, err := http.Get(link); err != nil || resp.StatusCode != 401 {
		t.Fatalf("the link worked twice: %v %v", resp.StatusCode, err)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := p.waitExit(t); err != nil {
		t.Fatalf("exit: %v\n%s", err, p.log())
	}
}
