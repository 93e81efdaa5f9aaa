package webdav_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	hsync "github.com/holdover/holdover/sync"
)

// pattern produces n deterministic bytes on the fly: a random 64 KiB
// block, each copy stamped with its index, so no two blocks are equal and
// nothing the size of the file is ever allocated.
type pattern struct {
	n, off int64
	base   []byte
}

const patternBlock = 64 << 10

func newPattern(n int64) *pattern {
	base := make([]byte, patternBlock)
	r := rand.NewChaCha8([32]byte{'h', 'o', 'l', 'd', 'o', 'v', 'e', 'r'})
	_, _ = r.Read(base)
	return &pattern{n: n, base: base}
}

func (g *pattern) Read(p []byte) (int, error) {
	if g.off >= g.n {
		return 0, io.EOF
	}
	if rem := g.n - g.off; int64(len(p)) > rem {
		p = p[:rem]
	}
	n := 0
	for n < len(p) {
		block, within := g.off/patternBlock, int(g.off%patternBlock)
		k := copy(p[n:], g.base[within:])
		if within < 8 {
			var stamp [8]byte
			binary.LittleEndian.PutUint64(stamp[:], uint64(block))
			copy(p[n:n+k], stamp[within:])
		}
		n += k
		g.off += int64(k)
	}
	return n, nil
}

// heapWatch samples HeapInuse every few milliseconds until stopped and
// returns the highest sample.
func heapWatch() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return peak.Load()
	}
}

// hashWriter hashes what is written to it and counts it.
type hashWriter struct {
	h hash.Hash
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

func TestApacheStreamsAGibibyteBothWaysInFlatMemory(t *testing.T) {
	size := int64(1 << 30)
	if testing.Short() {
		size = 64 << 20
	}
	const heapLimit = 32 << 20
	c, _, _ := apacheClient(t)
	ctx := context.Background()

	runtime.GC()
	up := sha256.New()
	stop := heapWatch()
	start := time.Now()
	f, err := c.Put(ctx, "big.bin", io.TeeReader(newPattern(size), up), size, hsync.PutCondition{Create: true})
	putTime := time.Since(start)
	putPeak := stop()
	if err != nil {
		t.Fatal(err)
	}
	if f.Size != size {
		t.Fatalf("Put = %+v", f)
	}

	runtime.GC()
	down := &hashWriter{h: sha256.New()}
	stop = heapWatch()
	start = time.Now()
	g, err := c.Get(ctx, "big.bin", down)
	getTime := time.Since(start)
	getPeak := stop()
	if err != nil {
		t.Fatal(err)
	}
	if g.Size != size || down.n != size || string(down.h.Sum(nil)) != string(up.Sum(nil)) {
		t.Fatalf("Get = %+v, %d bytes; content differs from what was put", g, down.n)
	}
	t.Logf("%d MiB: Put %v (peak HeapInuse %.1f MiB), Get %v (peak HeapInuse %.1f MiB)",
		size>>20, putTime.Round(time.Millisecond), float64(putPeak)/(1<<20), getTime.Round(time.Millisecond), float64(getPeak)/(1<<20))
	if putPeak > heapLimit || getPeak > heapLimit {
		t.Fatalf("peak HeapInuse %d (Put) / %d (Get) bytes, want under %d: a transfer must stream", putPeak, getPeak, heapLimit)
	}
}
