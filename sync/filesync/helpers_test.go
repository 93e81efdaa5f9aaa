package filesync_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/connectors/localfs"
	"github.com/holdover/holdover/connectors/webdav"
	"github.com/holdover/holdover/internal/backoff"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/filesync"
	"github.com/holdover/holdover/sync/outbox"
)

// env is an Apache WebDAV server, holdover's way to it through a fault
// proxy, a local folder, a store, the engine and one outbox worker; and
// the tests' own client of the server (another device of the user).
type env struct {
	apache *testenv.Apache
	proxy  *faultproxy.Proxy
	other  *webdav.Client // the tests' own view of the server
	dir    string         // the local folder
	db     *store.DB
	eng    *filesync.Engine
	opts   filesync.Options
	worker *outbox.Worker
}

func newEnv(t *testing.T, tweak ...func(*filesync.Options)) *env {
	t.Helper()
	e := &env{apache: testenv.StartApache(t), dir: t.TempDir()}
	var err error
	e.proxy, err = faultproxy.New(strings.TrimPrefix(strings.TrimSuffix(e.apache.URL, "/dav/"), "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.proxy.Close() })
	pw := func(context.Context) (string, error) { return e.apache.Password, nil }
	e.other, err = webdav.New(webdav.Options{URL: e.apache.URL, Username: e.apache.User, Password: pw})
	if err != nil {
		t.Fatal(err)
	}
	remote, err := webdav.New(webdav.Options{URL: "http://" + e.proxy.Addr() + "/dav/", Username: e.apache.User, Password: pw, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	local, err := localfs.Open(e.dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.db, err = store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	if err := e.db.EnsureAccounts(context.Background(), []string{"work"}); err != nil {
		t.Fatal(err)
	}
	e.opts = filesync.Options{Account: "work", DB: e.db, Remote: remote, Local: local, Host: "laptop"}
	for _, f := range tweak {
		f(&e.opts)
	}
	e.eng = filesync.New(e.opts)
	e.worker = outbox.New(outbox.Worker{DB: e.db, Account: "work", Service: "webdav", Kinds: filesync.Kinds,
		Exec: &filesync.Executor{Engine: e.eng}, Health: &hsync.Health{DB: e.db},
		Policy: backoff.Policy{Base: time.Millisecond, Cap: 5 * time.Millisecond}})
	return e
}

// sync runs passes and replays until nothing is left to do both ways
// (at most a few rounds: a conflict copy needs a second upload, a
// restore a second pass).
func (e *env) sync(t *testing.T) filesync.Stats {
	t.Helper()
	var total filesync.Stats
	for range 4 {
		st, err := e.eng.Sync(context.Background(), filesync.SyncOptions{})
		if err != nil {
			t.Fatalf("pass: %v", err)
		}
		e.drain(t)
		total.Queued += st.Queued
		total.Moves += st.Moves
		total.Downloaded += st.Downloaded
		total.RemovedLocal += st.RemovedLocal
		total.Renamed += st.Renamed
		if st.Queued == 0 && st.Downloaded == 0 && st.RemovedLocal == 0 && st.Renamed == 0 && e.open(t) == 0 {
			return total
		}
	}
	t.Fatalf("no quiet state after 4 rounds; outbox: %v", e.states(t))
	return total
}

// drain replays the queue once (failed actions wait for their retry).
func (e *env) drain(t *testing.T) {
	t.Helper()
	if err := e.worker.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func (e *env) open(t *testing.T) int {
	n, err := e.db.OpenOutboxCount(context.Background(), "work", filesync.Kinds)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *env) states(t *testing.T) map[string]int {
	rows, err := e.db.ListOutbox(context.Background(), store.OutboxFilter{Account: "work"})
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, r := range rows {
		m[r.Kind+" "+string(r.State)]++
	}
	return m
}

func (e *env) writeLocal(t *testing.T, path, content string) {
	t.Helper()
	p := filepath.Join(e.dir, filepath.FromSlash(path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	// Two writes within one timestamp tick must still look changed.
	later := time.Now().Add(time.Duration(len(content)+1) * time.Millisecond)
	os.Chtimes(p, later, later)
}

func (e *env) readLocal(t *testing.T, path string) (string, bool) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(e.dir, filepath.FromSlash(path)))
	if errors.Is(err, fs.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func (e *env) removeLocal(t *testing.T, path string) {
	t.Helper()
	if err := os.RemoveAll(filepath.Join(e.dir, filepath.FromSlash(path))); err != nil {
		t.Fatal(err)
	}
}

func (e *env) writeRemote(t *testing.T, path, content string) {
	t.Helper()
	ctx := context.Background()
	_, err := e.other.Put(ctx, path, strings.NewReader(content), int64(len(content)), hsync.PutCondition{Overwrite: true})
	if errors.Is(err, hsync.ErrNoParent) {
		dir := ""
		for _, seg := range strings.Split(path, "/")[:strings.Count(path, "/")] {
			dir = strings.TrimPrefix(dir+"/"+seg, "/")
			if err := e.other.Mkdir(ctx, dir); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.other.Put(ctx, path, strings.NewReader(content), int64(len(content)), hsync.PutCondition{Overwrite: true})
	}
	if err != nil {
		t.Fatalf("put %s on the server: %v", path, err)
	}
}

func (e *env) readRemote(t *testing.T, path string) (string, bool) {
	t.Helper()
	var b bytes.Buffer
	_, err := e.other.Get(context.Background(), path, &b)
	if errors.Is(err, hsync.ErrFileNotFound) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return b.String(), true
}

// remoteTree lists the server's files with their contents ("dir/" for a
// folder).
func (e *env) remoteTree(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := e.other.List(context.Background(), "", func(f hsync.RemoteFile) error {
		if f.Dir {
			out[f.Path+"/"] = ""
			return nil
		}
		var b bytes.Buffer
		if _, err := e.other.Get(context.Background(), f.Path, &b); err != nil {
			return err
		}
		out[f.Path] = b.String()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// localTree is remoteTree for the local folder (holdover's temporary
// files included: none may be left).
func (e *env) localTree(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(e.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == e.dir {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(p, e.dir+string(filepath.Separator)))
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		b, err := io.ReadAll(f)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTrees fails unless both sides hold exactly want.
func (e *env) sameTrees(t *testing.T, want map[string]string) {
	t.Helper()
	for side, got := range map[string]map[string]string{"local": e.localTree(t), "server": e.remoteTree(t)} {
		if !mapsEqual(got, want) {
			t.Errorf("%s tree:\n%s\nwant:\n%s", side, dump(got), dump(want))
		}
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func dump(m map[string]string) string {
	var lines []string
	for k, v := range m {
		if len(v) > 40 {
			v = v[:40] + "…"
		}
		lines = append(lines, "  "+k+" = "+v)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// conflictCopies returns the local paths that are conflict copies.
func conflictCopies(tree map[string]string) []string {
	var out []string
	for p := range tree {
		if strings.Contains(p, ".conflict-laptop-") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func (e *env) integrity(t *testing.T) {
	t.Helper()
	rep, err := e.db.Check(context.Background())
	if err != nil || !rep.OK {
		t.Fatalf("integrity check: %+v %v", rep, err)
	}
}

func renameLocal(t *testing.T, e *env, from, to string) {
	t.Helper()
	if err := os.Rename(filepath.Join(e.dir, filepath.FromSlash(from)), filepath.Join(e.dir, filepath.FromSlash(to))); err != nil {
		t.Fatal(err)
	}
}

// apacheRequests counts the requests in Apache's access log (it writes
// each line when the request ends) that start with what: a method, or a
// method and a path ("PUT /dav/a.txt").
func (e *env) apacheRequests(t *testing.T, what string) int {
	t.Helper()
	b, err := os.ReadFile(e.apache.AccessLog)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		t.Fatal(err)
	}
	if !strings.Contains(what, " ") {
		what += " "
	} else {
		what += " HTTP/"
	}
	return strings.Count(string(b), `"`+what)
}

// bothEdited syncs a file, then changes it on both sides and syncs again.
func (e *env) bothEdited(t *testing.T, path, mine, theirs string) {
	t.Helper()
	e.writeRemote(t, path, "v1")
	e.sync(t)
	e.writeLocal(t, path, mine)
	e.writeRemote(t, path, theirs)
	e.sync(t)
}
