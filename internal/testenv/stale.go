package testenv

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// A test binary that dies without running its cleanups (killed, or stopped
// by go test's -timeout) leaves its instance directories behind, and may
// leave server workers running: the parent-death signal reaches each server
// process itself, and Dovecot's workers follow their master, but Apache's
// workers outlive their parent. Each instance directory therefore records
// its owner (the test process, by PID and start time) and the PIDs of the
// servers started in it, and the first Start call of every test binary
// sweeps the instance directories whose owner is gone: it SIGKILLs the
// members of each recorded server's process group whose command line names
// that directory, then removes the directory. A live test's directory is
// never touched.

const (
	ownerFile   = ".testenv-owner"   // "<pid> <start time>" of the owning test process
	serversFile = ".testenv-servers" // one server PID (= process group id) per line
	dirPrefix   = "holdover-testenv-"
)

var sweepOnce sync.Once

// markOwner records the current test process as the owner of dir, and
// sweeps stale instance directories first (once per test binary).
func markOwner(t testing.TB, dir string) {
	t.Helper()
	sweepOnce.Do(func() {
		for _, msg := range sweepStale(dir) {
			t.Logf("testenv: %s", msg)
		}
	})
	start, err := procStartTime(os.Getpid())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	writeFile(t, filepath.Join(dir, ownerFile), fmt.Sprintf("%d %s\n", os.Getpid(), start), 0o644)
}

// recordServer notes that a server with PID pid runs in dir.
func recordServer(dir string, pid int) error {
	f, err := os.OpenFile(filepath.Join(dir, serversFile), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(f, "%d\n", pid); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// sweepStale cleans up after test processes that died, skipping keep (the
// caller's own new directory). It returns what it did, for the test log.
func sweepStale(keep string) []string {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	var msgs []string
	for _, dir := range dirs {
		if dir == keep {
			continue
		}
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // not marked (yet): not ours to judge
		}
		var pid int
		var start string
		if _, err := fmt.Sscanf(string(owner), "%d %s", &pid, &start); err != nil {
			continue
		}
		if s, err := procStartTime(pid); err == nil && s == start {
			continue // owner alive
		}
		killed := killStaleServers(dir)
		if err := os.RemoveAll(dir); err != nil {
			msgs = append(msgs, fmt.Sprintf("remove stale %s: %v", dir, err))
			continue
		}
		msgs = append(msgs, fmt.Sprintf("swept stale %s of dead test process %d (killed PIDs %v)", dir, pid, killed))
	}
	return msgs
}

// killStaleServers SIGKILLs the processes left in the process groups
// recorded in dir whose command line names dir: a process group id may have
// been reused since, so membership alone is not proof.
func killStaleServers(dir string) []int {
	data, err := os.ReadFile(filepath.Join(dir, serversFile))
	if err != nil {
		return nil
	}
	groups := map[int]bool{}
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil && n > 1 {
			groups[n] = true
		}
	}
	if len(groups) == 0 {
		return nil
	}
	procs, _ := filepath.Glob("/proc/[0-9]*")
	mark := []byte(filepath.Base(dir))
	var killed []int
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		fields, err := procStatFields(pid)
		if err != nil || len(fields) < 3 {
			continue
		}
		pgid, err := strconv.Atoi(fields[2])
		if err != nil || !groups[pgid] {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil || !bytes.Contains(cmdline, mark) {
			continue
		}
		if syscall.Kill(pid, syscall.SIGKILL) == nil {
			killed = append(killed, pid)
		}
	}
	return killed
}

// procStatFields returns the fields of /proc/<pid>/stat after the command
// name: [0] is the state, [2] the process group, [19] the start time.
func procStatFields(pid int) ([]string, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return nil, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	return strings.Fields(string(data[i+1:])), nil
}

// procStartTime returns the start time of process pid (clock ticks since
// boot), which tells a live process from a later one reusing its PID.
func procStartTime(pid int) (string, error) {
	f, err := procStatFields(pid)
	if err != nil {
		return "", err
	}
	if len(f) < 20 {
		return "", fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	return f[19], nil
}
