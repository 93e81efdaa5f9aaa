package filesync_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/holdover/holdover/sync/filesync"
)

// The randomized model test: both sides change a small tree at random,
// the server comes and goes, passes and replays run in between; at the
// end both sides must hold the same tree, nothing may be lost (every
// file's last content on either side, when the other side did not
// delete it, is somewhere), and no temporary file may be left.
//
// HOLDOVER_FILES_SEEDS=n runs more seeds, HOLDOVER_FILES_OPS=n more
// operations per seed.
func TestFilesModel(t *testing.T) {
	seeds, ops := envInt("HOLDOVER_FILES_SEEDS", 3), envInt("HOLDOVER_FILES_OPS", 40)
	for seed := range seeds {
		t.Run(fmt.Sprint("seed ", seed+1), func(t *testing.T) { runModel(t, uint64(seed+1), ops) })
	}
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func runModel(t *testing.T, seed uint64, ops int) {
	e := newEnv(t)
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 42))
	names := []string{"a.txt", "b.txt", "d/c.txt", "d/e/f.txt", "g/h.txt"}
	pick := func() string { return names[rng.IntN(len(names))] }
	n := 0
	content := func(side string) string { n++; return fmt.Sprintf("%s write %d of seed %d", side, n, seed) }
	// keep holds the contents that must survive: every write, until the
	// user removes it on purpose (overwrites or deletes the file on a
	// side where that content is what the file holds).
	keep := map[string]bool{}
	var log []string
	for range ops {
		down := rng.IntN(4) == 0
		if down {
			e.proxy.Down()
		}
		switch op := rng.IntN(10); {
		case op < 3:
			p, c := pick(), content("local")
			if old, ok := e.readLocal(t, p); ok {
				delete(keep, old)
			}
			if err := os.MkdirAll(filepath.Dir(filepath.Join(e.dir, p)), 0o755); err == nil {
				e.writeLocal(t, p, c)
				keep[c] = true
				log = append(log, "local write "+p)
			}
		case op < 5:
			p, c := pick(), content("server")
			if old, ok := e.readRemote(t, p); ok {
				delete(keep, old)
			}
			e.writeRemote(t, p, c)
			keep[c] = true
			log = append(log, "server write "+p)
		case op < 6:
			p := pick()
			if old, ok := e.readLocal(t, p); ok {
				delete(keep, old)
				e.removeLocal(t, p)
				log = append(log, "local delete "+p)
			}
		case op < 7:
			p := pick()
			if old, ok := e.readRemote(t, p); ok {
				delete(keep, old)
				e.other.Delete(ctx, p, "")
				log = append(log, "server delete "+p)
			}
		case op < 8:
			from, to := pick(), pick()
			_, has := e.readLocal(t, from)
			_, taken := e.readLocal(t, to)
			if has && !taken && from != to {
				os.MkdirAll(filepath.Dir(filepath.Join(e.dir, to)), 0o755)
				renameLocal(t, e, from, to)
				log = append(log, "local rename "+from+" -> "+to)
			}
		}
		if rng.IntN(2) == 0 {
			_, err := e.eng.Sync(ctx, filesync.SyncOptions{})
			if err != nil && !down {
				t.Fatalf("pass with the server up: %v\nops:\n%s", err, strings.Join(log, "\n"))
			}
			e.drain(t)
			log = append(log, fmt.Sprintf("pass (server down: %v, err: %v)", down, err))
		}
		e.proxy.Up()
	}
	if _, err := e.db.ExpediteFailed(ctx, "work", filesync.Kinds); err != nil {
		t.Fatal(err)
	}
	e.sync(t)
	local, remote := e.localTree(t), e.remoteTree(t)
	if !mapsEqual(local, remote) {
		t.Fatalf("the sides differ:\nlocal:\n%s\nserver:\n%s\nops:\n%s", dump(local), dump(remote), strings.Join(log, "\n"))
	}
	have := map[string]bool{}
	for p, c := range local {
		have[c] = true
		if strings.Contains(p, ".holdover-tmp-") {
			t.Errorf("temporary file left: %s", p)
		}
	}
	var lost []string
	for c := range keep {
		if !have[c] {
			lost = append(lost, c)
		}
	}
	slices.Sort(lost)
	if len(lost) > 0 {
		t.Errorf("lost %q\nfinal tree:\n%s\nops:\n%s", lost, dump(local), strings.Join(log, "\n"))
	}
	e.integrity(t)
}
