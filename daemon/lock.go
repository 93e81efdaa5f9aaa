package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockFileName is the lock file inside the data directory. It holds the
// PID of the daemon that owns the directory.
const LockFileName = "holdover.lock"

// ErrLocked reports that another daemon owns the data directory.
var ErrLocked = errors.New("another holdover daemon is running on this data directory")

// Lock is an exclusive advisory lock on a data directory. The kernel drops
// it when the process dies, so a crash never leaves a stale lock behind.
type Lock struct {
	f *os.File
}

// AcquireLock takes the data directory's lock and writes our PID into it.
func AcquireLock(dataDir string) (*Lock, error) {
	path := filepath.Join(dataDir, LockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w (is the data directory writable by this user?)", path, err)
	}
	ok, err := tryLock(f, true)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if !ok {
		pid := readPID(f)
		f.Close()
		if pid > 0 {
			return nil, fmt.Errorf("%w (pid %d, lock %s)", ErrLocked, pid, path)
		}
		return nil, fmt.Errorf("%w (lock %s)", ErrLocked, path)
	}
	if err := writePID(f); err != nil {
		unlock(f)
		f.Close()
		return nil, fmt.Errorf("lock %s: write pid: %w", path, err)
	}
	return &Lock{f: f}, nil
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return err
	}
	return f.Sync()
}

// Release drops the lock. The file stays; its content is only advisory.
func (l *Lock) Release() error {
	l.f.Truncate(0)
	err := unlock(l.f)
	return errors.Join(err, l.f.Close())
}

// LockHolder reports the PID of the daemon holding dataDir's lock, or 0
// when no daemon runs there. It never blocks and never creates files.
func LockHolder(dataDir string) (int, error) {
	f, err := os.Open(filepath.Join(dataDir, LockFileName))
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer f.Close()
	free, err := tryLock(f, false)
	if err != nil {
		return 0, err
	}
	if free {
		unlock(f)
		return 0, nil
	}
	if pid := readPID(f); pid > 0 {
		return pid, nil
	}
	return -1, nil // held, PID not written yet
}

func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil {
		return 0
	}
	return pid
}
