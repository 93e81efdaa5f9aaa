package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdover/holdover/connectors/webdav"
	"github.com/holdover/holdover/internal/faultproxy"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// filesSetup starts Apache with WebDAV and writes a config that syncs a
// local folder with it through a fault proxy. other is the tests' own
// client of the server (another device of the user).
type filesSetup struct {
	apache *testenv.Apache
	proxy  *faultproxy.Proxy
	other  *webdav.Client
	cfg    string
	dir    string // the local folder
	env    []string
}

func newFilesSetup(t *testing.T) *filesSetup {
	t.Helper()
	s := &filesSetup{apache: testenv.StartApache(t)}
	var err error
	if s.proxy, err = faultproxy.New(strings.TrimPrefix(strings.TrimSuffix(s.apache.URL, "/dav/"), "http://")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.proxy.Close() })
	s.other, err = webdav.New(webdav.Options{URL: s.apache.URL, Username: s.apache.User,
		Password: func(context.Context) (string, error) { return s.apache.Password, nil }})
	if err != nil {
		t.Fatal(err)
	}
	d := t.TempDir()
	s.dir = filepath.Join(d, "Sync")
	s.cfg = filepath.Join(d, "config.yaml")
	os.WriteFile(s.cfg, []byte(fmt.Sprintf(`data_dir: %s/data
listen: {http: "", smtp: ""}
accounts:
  - name: work
    files:
      webdav: {url: "http://127.0.0.1:%d/dav/", username: %s, password_env: DAV_PW}
      local_dir: %s
`, d, s.proxy.Port(), s.apache.User, s.dir)), 0o600)
	s.env = []string{"DAV_PW=" + s.apache.Password}
	return s
}

func (s *filesSetup) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runBin(t, s.env, append([]string{"--config", s.cfg}, args...)...)
}

func (s *filesSetup) putRemote(t *testing.T, path, content string) {
	t.Helper()
	if _, err := s.other.Put(context.Background(), path, strings.NewReader(content), int64(len(content)), hsync.PutCondition{Overwrite: true}); err != nil {
		t.Fatalf("put %s on the server: %v", path, err)
	}
}

func (s *filesSetup) remote(path string) (string, bool) {
	var b bytes.Buffer
	if _, err := s.other.Get(context.Background(), path, &b); err != nil {
		return "", false
	}
	return b.String(), true
}

func (s *filesSetup) local(path string) (string, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, filepath.FromSlash(path)))
	return string(b), err == nil
}

func (s *filesSetup) status(t *testing.T) []map[string]any {
	t.Helper()
	code, out, stderr := s.run(t, "files", "status", "--json")
	var st []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || len(st) != 1 {
		t.Fatalf("files status: exit %d\n%s%s", code, out, stderr)
	}
	return st
}

// The files story through the binary and a running daemon: edits flow
// both ways within seconds (the watcher sees a file written in a new
// folder), the server goes away and local work goes on and is queued,
// the phone edits the same file meanwhile, and after the outage both
// versions exist on both sides.
func TestFilesFlowBothWaysThroughTheDaemonAndSurviveAnOutage(t *testing.T) {
	s := newFilesSetup(t)
	s.putRemote(t, "report.txt", "report v1")
	p := startDaemon(t, s.env, "--config", s.cfg)

	waitFor(t, "the server's file in the folder", func() bool { got, _ := s.local("report.txt"); return got == "report v1" })
	if err := os.MkdirAll(filepath.Join(s.dir, "new", "deeper"), 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(s.dir, "new", "deeper", "note.md"), []byte("written in a new folder"), 0o644)
	waitFor(t, "the new file on the server", func() bool { got, _ := s.remote("new/deeper/note.md"); return got == "written in a new folder" })

	s.putRemote(t, "from-phone.txt", "phone")
	if code, out, stderr := s.run(t, "files", "sync", "--once"); code != 0 || !strings.Contains(out, "the running daemon did the pass") {
		t.Fatalf("files sync --once: exit %d\n%s%s", code, out, stderr)
	}
	if got, _ := s.local("from-phone.txt"); got != "phone" {
		t.Fatalf("after a pass the folder has %q", got)
	}

	s.proxy.Down()
	os.WriteFile(filepath.Join(s.dir, "report.txt"), []byte("report v2, written offline"), 0o644)
	os.WriteFile(filepath.Join(s.dir, "offline.txt"), []byte("made offline"), 0o644)
	waitFor(t, "the offline changes queued", func() bool {
		st := s.status(t)
		return st[0]["pending_up"].(float64) >= 2
	})
	s.putRemote(t, "report.txt", "report v2 from the phone, during the outage")
	s.proxy.Up()
	waitFor(t, "the queue replayed", func() bool {
		_, _, _ = s.run(t, "files", "sync", "--once")
		st := s.status(t)
		return st[0]["pending_up"].(float64) == 0 && st[0]["conflicts"].(float64) == 1
	})
	if got, _ := s.remote("offline.txt"); got != "made offline" {
		t.Errorf("server has offline.txt = %q", got)
	}
	if got, _ := s.local("report.txt"); got != "report v2 from the phone, during the outage" {
		t.Errorf("local report.txt = %q, want the server's version under the name", got)
	}
	entries, _ := os.ReadDir(s.dir)
	var copyName string
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "report.conflict-") {
			copyName = e.Name()
		}
	}
	if copyName == "" {
		t.Fatalf("no conflict copy in %v", entries)
	}
	if got, _ := s.remote(copyName); got != "report v2, written offline" {
		t.Errorf("server's %s = %q, want the offline edit", copyName, got)
	}
	code, out, _ := s.run(t, "conflicts", "ls")
	if code != 0 || !strings.Contains(out, "file") {
		t.Errorf("conflicts ls: exit %d\n%s", code, out)
	}
	p.cmd.Process.Signal(os.Interrupt)
	if err := p.waitExit(t); err != nil {
		var ee interface{ ExitCode() int }
		if !errors.As(err, &ee) || ee.ExitCode() != 0 {
			t.Fatalf("daemon exit: %v\n%s", err, p.log())
		}
	}
	if strings.Contains(p.log(), "level=ERROR") {
		t.Errorf("daemon logged errors:\n%s", p.log())
	}
}
