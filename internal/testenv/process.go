package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// stopGrace is how long a server gets to exit after SIGTERM before SIGKILL.
const stopGrace = 10 * time.Second

// startAttempts bounds the retries when a server loses the race for its port.
const startAttempts = 4

// process is one running server, known by its PID.
type process struct {
	name string
	pid  int
	logs []string      // log files whose tail explains a failure
	from []int64       // size of each log when the process started
	done chan struct{} // closed once the process has been reaped
	err  error         // Wait's result; read only after done is closed

	stopOnce sync.Once
	reported bool // the logs' tail is already in a failure message
}

// spawnReq asks the spawner thread to start a command.
type spawnReq struct {
	cmd   *exec.Cmd
	reply chan error
}

var (
	spawnOnce sync.Once
	spawnCh   chan spawnReq
)

// spawn starts cmd from a goroutine locked to an OS thread that never exits.
// The parent-death signal set on the child fires when the thread that forked
// it dies, so forking from an ordinary thread (which the Go runtime may
// retire) could kill a healthy server; this thread lives as long as the test
// binary does, so the signal fires only when the binary dies.
func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnCh = make(chan spawnReq)
		go func() {
			runtime.LockOSThread() // never unlocked: the thread must outlive every child
			for req := range spawnCh {
				req.reply <- req.cmd.Start()
			}
		}()
	})
	reply := make(chan error, 1)
	spawnCh <- spawnReq{cmd: cmd, reply: reply}
	return <-reply
}

// startProcess runs argv in dir with stdout and stderr appended to
// outputLog, in a new process group, with a minimal environment plus env.
// The process is reaped by a goroutine; stop it with [process.stop].
func startProcess(t testing.TB, name, dir, outputLog string, logs []string, env []string, argv ...string) *process {
	t.Helper()
	out, err := os.OpenFile(outputLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer out.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	// An *os.File (not a pipe) so Wait never blocks on grandchildren that
	// inherited the descriptor.
	cmd.Stdout, cmd.Stderr = out, out
	cmd.Env = append([]string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LANG=C.UTF-8",
		"HOME=" + dir,
		"TMPDIR=" + dir,
	}, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	allLogs := append([]string{outputLog}, logs...)
	from := make([]int64, len(allLogs))
	for i, l := range allLogs {
		if fi, err := os.Stat(l); err == nil {
			from[i] = fi.Size()
		}
	}
	fmt.Fprintf(out, "testenv: starting %s\n", strings.Join(argv, " "))
	if err := spawn(cmd); err != nil {
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	if err := recordServer(dir, cmd.Process.Pid); err != nil {
		t.Errorf("testenv: %v", err)
	}
	p := &process{name: name, pid: cmd.Process.Pid, logs: allLogs, from: from, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

// exited reports whether the process has already exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process by its PID. It sends SIGTERM to the process group
// whose id is that PID (the server and the workers it forked: signalling
// them all at once lets Dovecot stop in milliseconds instead of seconds),
// waits up to stopGrace for the server to exit, then SIGKILLs the group. It
// returns once the server is reaped and no member of its group is left. It
// is safe to call more than once.
func (p *process) stop() {
	p.stopOnce.Do(func() {
		if !p.exited() {
			_ = syscall.Kill(-p.pid, syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(stopGrace):
				_ = syscall.Kill(-p.pid, syscall.SIGKILL)
				<-p.done
			}
		}
		// The leader is reaped; its workers normally exit with it. Give
		// them a moment, then kill what is left of the group.
		if !waitGroupGone(p.pid, 3*time.Second) {
			_ = syscall.Kill(-p.pid, syscall.SIGKILL)
			waitGroupGone(p.pid, 3*time.Second)
		}
	})
}

// waitGroupGone waits up to d for process group pgid to have no member.
func waitGroupGone(pgid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for syscall.Kill(-pgid, 0) == nil {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// logTail returns the last lines of the process's logs, for failure messages.
func (p *process) logTail() string {
	var b strings.Builder
	for _, path := range p.logs {
		fmt.Fprintf(&b, "\n--- tail of %s ---\n%s", path, tailFile(path, 40))
	}
	return b.String()
}

// logContains reports whether any of the process's logs contains s in
// what was written since the process started (a log file is shared by the
// attempts to start one server).
func (p *process) logContains(s string) bool {
	for i, path := range p.logs {
		data, err := os.ReadFile(path)
		if err != nil || int64(len(data)) < p.from[i] {
			continue
		}
		if bytes.Contains(data[p.from[i]:], []byte(s)) {
			return true
		}
	}
	return false
}

// bindRace reports whether the process died because its port was taken.
func (p *process) bindRace() bool {
	return p.exited() && (p.logContains("Address already in use") || p.logContains("address already in use"))
}

func tailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(unreadable: %v)\n", err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n") + "\n"
}

// errExited is returned by waitReady when the server died while starting.
var errExited = errors.New("server exited before it was ready")

// waitReady polls probe until it succeeds, the process exits, or
// ReadyTimeout passes. probe should dial, speak a little protocol and
// return nil once the server really answers. A probe in flight is abandoned
// (it ends on its own deadline) as soon as the process exits, so a server
// that died is noticed at once, even if something else answers its port.
func waitReady(p *process, probe func() error) error {
	deadline := time.Now().Add(ReadyTimeout)
	for {
		result := make(chan error, 1)
		go func() { result <- probe() }()
		var err error
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)", errExited, p.err)
		case err = <-result:
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready after %s: %v", ReadyTimeout, err)
		}
		select {
		case <-p.done:
			return fmt.Errorf("%w (%v)", errExited, p.err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// startServer runs launch with fresh free ports until the server it starts
// passes probe, retrying only when the server lost a race for its port. It
// registers the server's stop with t.Cleanup and fails the test (with the
// logs' tail) if the server never becomes ready.
func startServer(t testing.TB, launch func(port int) *process, probe func(port int) error) (*process, int) {
	t.Helper()
	for attempt := 1; ; attempt++ {
		port := pickPort(t)
		p := launch(port)
		t.Cleanup(func() {
			if p.exited() && !p.reported {
				p.reported = true
				t.Logf("testenv: %s (pid %d) exited during the test (%v):%s", p.name, p.pid, p.err, p.logTail())
			}
			p.stop()
			if t.Failed() && !p.reported {
				t.Logf("testenv: %s (pid %d) logs at stop:%s", p.name, p.pid, p.logTail())
			}
		})
		err := waitReady(p, func() error { return probe(port) })
		if err == nil {
			return p, port
		}
		if p.bindRace() && attempt < startAttempts {
			t.Logf("testenv: %s lost port %d to another process, retrying", p.name, port)
			p.stop()
			p.reported = true // its cleanup has nothing to say
			continue
		}
		p.stop()
		p.reported = true
		t.Fatalf("testenv: %s (pid %d) on 127.0.0.1:%d: %v%s", p.name, p.pid, port, err, p.logTail())
	}
}

// dialProbe dials 127.0.0.1:port with a short timeout.
func dialProbe(port int) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	return c, nil
}
