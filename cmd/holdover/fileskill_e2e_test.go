package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// bigSize is the file the kill and memory tests move: large enough that a
// transfer takes a while on loopback, and that memory proportional to it
// would show.
const bigSize = 1 << 30

// bigReader is bigSize bytes of deterministic noise, made on the fly.
func bigReader(seed uint64) io.Reader {
	return io.LimitReader(rand.NewChaCha8([32]byte{byte(seed), 'b', 'i', 'g'}), bigSize)
}

func hashOf(t *testing.T, r io.Reader) string {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// rssSampler records the largest resident set of a process until stopped.
type rssSampler struct {
	stop chan struct{}
	done chan int64 // peak, in bytes
}

func sampleRSS(pid int) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan int64, 1)}
	go func() {
		var peak int64
		defer func() { s.done <- peak }()
		for {
			if kb := vmRSS(pid); kb*1024 > peak {
				peak = kb * 1024
			}
			select {
			case <-s.stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return s
}

func (s *rssSampler) peak() int64 {
	close(s.stop)
	return <-s.done
}

func vmRSS(pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// A daemon killed with SIGKILL in the middle of an upload and in the
// middle of a download leaves no partial file under the final name on
// either side; restarted, it converges; and a 1 GiB file moves each way
// in flat memory.
func TestFilesKilledMidTransferLeaveNoPartialFileAndConverge(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB through Apache; not with -short")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("needs /proc to sample the daemon's memory")
	}
	s := newFilesSetup(t)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		t.Fatal(err)
	}
	upPath := filepath.Join(s.dir, "up.bin")
	f, err := os.Create(upPath)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(f, bigReader(1)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	upHash := hashOf(t, bigReader(1))

	// Upload, killed midway: Apache's mod_dav_fs writes a PUT's body to
	// a temporary file and renames it when the body is complete.
	p := startDaemon(t, s.env, "--config", s.cfg)
	waitFor(t, "the upload to start", func() bool { return davTempExists(s.apache.Root) })
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(t)
	if fi, err := s.other.Stat(context.Background(), "up.bin"); err == nil && fi.Size != bigSize {
		t.Fatalf("a partial upload is on the server under its name: %d bytes", fi.Size)
	}

	// Download, killed midway.
	if _, err := s.other.Put(context.Background(), "down.bin", bigReader(2), bigSize, hsync.PutCondition{Create: true}); err != nil {
		t.Fatal(err)
	}
	downHash := hashOf(t, bigReader(2))
	p = startDaemon(t, s.env, "--config", s.cfg)
	rss := sampleRSS(p.cmd.Process.Pid)
	waitFor(t, "the download to start", func() bool { return localTempExists(t, s.dir) })
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.waitExit(t)
	rss.peak()
	if fi, err := os.Stat(filepath.Join(s.dir, "down.bin")); err == nil && fi.Size() != bigSize {
		t.Fatalf("a partial download is in the folder under its name: %d bytes", fi.Size())
	}

	// Restarted, it converges: both files whole on both sides.
	p = startDaemon(t, s.env, "--config", s.cfg)
	rss = sampleRSS(p.cmd.Process.Pid)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		up, errUp := s.other.Stat(context.Background(), "up.bin")
		down, errDown := os.Stat(filepath.Join(s.dir, "down.bin"))
		if errUp == nil && up.Size == bigSize && errDown == nil && down.Size() == bigSize && s.status(t)[0]["pending_up"].(float64) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no convergence after the restart:\n%s", p.log())
		}
		time.Sleep(100 * time.Millisecond)
	}
	peak := rss.peak()
	t.Logf("daemon's peak RSS while moving 1 GiB each way: %.1f MiB", float64(peak)/(1<<20))
	if peak > 150<<20 {
		t.Errorf("peak RSS %.0f MiB while moving 1 GiB files: transfers must stream", float64(peak)/(1<<20))
	}
	r, w := io.Pipe()
	go func() { _, err := s.other.Get(context.Background(), "up.bin", w); w.CloseWithError(err) }()
	if got := hashOf(t, r); got != upHash {
		t.Errorf("server's up.bin differs from the local file")
	}
	lf, err := os.Open(filepath.Join(s.dir, "down.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	if got := hashOf(t, lf); got != downHash {
		t.Errorf("local down.bin differs from the server's")
	}
	if strings.Contains(p.log(), "level=ERROR") {
		t.Errorf("daemon logged errors:\n%s", p.log())
	}
}

// davTempExists reports whether mod_dav_fs is writing a PUT's body (its
// temporary files start with .davfs.tmp).
func davTempExists(root string) bool {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".davfs.tmp") {
			return true
		}
	}
	return false
}

func localTempExists(t *testing.T, dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".holdover-tmp-") {
			return true
		}
	}
	return false
}
