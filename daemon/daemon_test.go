package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/store"
)

func writeConfig(t *testing.T, path, dataDir string, accounts ...string) {
	t.Helper()
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\nlisten: {http: \"\", smtp: \"\"}\nlog: {level: debug}\naccounts:\n", dataDir)
	for _, a := range accounts {
		fmt.Fprintf(&b, "  - name: %s\n    mail:\n      imap: {host: 127.0.0.1, port: 1143, tls: none, username: me, password_env: HOLDOVER_TEST_PW}\n", a)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

type running struct {
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

// start runs a daemon in-process and waits until it serves.
func start(t *testing.T, cfgPath string) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan *Daemon, 1)
	go func() {
		r.done <- runWith(ctx, Options{ConfigPath: cfgPath, Version: "test", LogOutput: io.Discard}, func(d *Daemon) { ready <- d })
	}()
	select {
	case r.d = <-ready:
	case err := <-r.done:
		cancel()
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("daemon did not start within 10s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("daemon did not stop within 20s")
		return nil
	}
}

func TestDaemonServesControlSocketAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfg, data, "work")
	r := start(t, cfg)

	sock := filepath.Join(data, "holdover.sock")
	fi, err := os.Stat(sock)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode().Type() != os.ModeSocket {
		t.Fatalf("control socket %v, %v; want a 0600 socket", fi, err)
	}
	if fi, _ := os.Stat(data); fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir mode %v, want 0700", fi.Mode().Perm())
	}
	info, err := control.NewClient(sock).Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.PID != os.Getpid() || info.Version != "test" || !info.Reload.OK || info.Reload.Generation != 1 || info.DataDir != data {
		t.Fatalf("info = %+v", info)
	}
	if pid, _ := LockHolder(data); pid != os.Getpid() {
		t.Fatalf("LockHolder = %d, want our pid", pid)
	}

	if err := r.stop(t); err != nil {
		t.Fatalf("Run returned %v after cancel", err)
	}
	if _, err := os.Stat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
	if pid, _ := LockHolder(data); pid != 0 {
		t.Errorf("lock still held by %d after stop", pid)
	}
	if _, err := control.NewClient(sock).Info(context.Background()); !errors.Is(err, control.ErrNoDaemon) {
		t.Errorf("Info after stop: %v, want ErrNoDaemon", err)
	}
}

func TestSecondDaemonOnTheSameDataDirIsRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfg, filepath.Join(dir, "data"), "work")
	start(t, cfg)
	err := Run(context.Background(), Options{ConfigPath: cfg, LogOutput: io.Discard})
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second daemon: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
}

func TestReloadKeepsRunningConfigWhenNewOneIsInvalid(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfg, data, "work")
	r := start(t, cfg)
	client := control.NewClient(filepath.Join(data, "holdover.sock"))
	ctx := context.Background()

	if err := os.WriteFile(cfg, []byte("data_dir: "+data+"\naccounts:\n  - name: work\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := client.Reload(ctx)
	if err == nil || !strings.Contains(err.Error(), cfg+":4") || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("reload of a broken config: %v, want file:line naming the bad key", err)
	}
	info, _ := client.Info(ctx)
	if info.Reload.OK || info.Reload.Generation != 1 || !strings.Contains(info.Reload.Error, "bogus") {
		t.Fatalf("reload state after rejection = %+v", info.Reload)
	}
	if got := testutil.ToFloat64(r.d.metrics.reloadOK); got != 0 {
		t.Errorf("holdover_config_last_reload_successful = %v, want 0", got)
	}
	if names := accountNames(r.d.Config()); len(names) != 1 || names[0] != "work" {
		t.Fatalf("running config changed to %v", names)
	}

	writeConfig(t, cfg, data, "work", "home")
	st, err := client.Reload(ctx)
	if err != nil || !st.OK || st.Generation != 2 {
		t.Fatalf("reload of a fixed config: %+v, %v", st, err)
	}
	if got := testutil.ToFloat64(r.d.metrics.reloadOK); got != 1 {
		t.Errorf("holdover_config_last_reload_successful = %v, want 1", got)
	}
	accts, err := r.d.db.Accounts(ctx)
	if err != nil || len(accts) != 2 {
		t.Fatalf("stored accounts after reload = %v, %v", accts, err)
	}
}

func TestReloadRefusesDataDirChange(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfg, data, "work")
	r := start(t, cfg)
	writeConfig(t, cfg, filepath.Join(dir, "elsewhere"), "work")
	if _, err := r.d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "data_dir") {
		t.Fatalf("reload moving data_dir: %v, want a restart-needed error", err)
	}
	if r.d.Config().DataDir != data {
		t.Fatal("data_dir changed under a running daemon")
	}
}

func TestStartupFailuresAreClearAndTouchNothing(t *testing.T) {
	dir := t.TempDir()
	fileAsDir := filepath.Join(dir, "a-file")
	os.WriteFile(fileAsDir, []byte("x"), 0o600)

	corruptDir := filepath.Join(dir, "corrupt")
	os.MkdirAll(corruptDir, 0o700)
	junk := []byte(strings.Repeat("garbage ", 1000))
	os.WriteFile(filepath.Join(corruptDir, "holdover.db"), junk, 0o600)

	newerDir := filepath.Join(dir, "newer")
	os.MkdirAll(newerDir, 0o700)
	db, err := store.Open(context.Background(), filepath.Join(newerDir, "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	bumpUserVersion(t, filepath.Join(newerDir, "holdover.db"))
	newerBytes, _ := os.ReadFile(filepath.Join(newerDir, "holdover.db"))

	cases := []struct {
		name, dataDir, want string
	}{
		{"data dir is a file", fileAsDir, fileAsDir},
		{"corrupt database", corruptDir, "not a holdover database"},
		{"database from a newer holdover", newerDir, "schema version 99"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := filepath.Join(t.TempDir(), "config.yaml")
			writeConfig(t, cfg, c.dataDir, "work")
			err := Run(context.Background(), Options{ConfigPath: cfg, LogOutput: io.Discard})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Run: %v, want an error containing %q", err, c.want)
			}
		})
	}
	if got, _ := os.ReadFile(filepath.Join(corruptDir, "holdover.db")); string(got) != string(junk) {
		t.Error("corrupt database was modified")
	}
	if got, _ := os.ReadFile(filepath.Join(newerDir, "holdover.db")); string(got) != string(newerBytes) {
		t.Error("newer database was modified")
	}
	for _, d := range []string{corruptDir, newerDir} {
		if pid, _ := LockHolder(d); pid != 0 {
			t.Errorf("%s: lock left held", d)
		}
	}
}

func TestMissingConfigNamesThePath(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	err := Run(context.Background(), Options{ConfigPath: path, LogOutput: io.Discard})
	if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Run: %v", err)
	}
}

func TestHTTPEndpointServesHealthReadinessAndMetrics(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfg, data, "work")
	addr := freeAddr(t)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), `http: ""`, `http: "`+addr+`"`, 1)), 0o600)
	start(t, cfg)

	token, err := os.ReadFile(filepath.Join(data, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	withToken := true
	get := func(path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
		if withToken {
			req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz = %d", code)
	}
	code, body := get("/metrics")
	if code != 200 || !strings.Contains(body, "holdover_config_last_reload_successful 1") || !strings.Contains(body, `holdover_build_info{version="test"} 1`) {
		t.Fatalf("/metrics = %d\n%s", code, body)
	}
	if strings.Contains(body, "HOLDOVER_TEST_PW") {
		t.Error("metrics mention a secret source")
	}
	withToken = false
	if code, _ := get("/metrics"); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token = %d, want 401", code)
	}
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz without the token = %d", code)
	}
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

func TestReloadMovesTheHTTPListenerOrRejectsABusyAddress(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfg, data, "work")
	text, _ := os.ReadFile(cfg)
	withHTTP := func(addr string) {
		os.WriteFile(cfg, []byte(strings.Replace(string(text), `http: ""`, `http: "`+addr+`"`, 1)), 0o600)
	}
	first, second := freeAddr(t), freeAddr(t)
	withHTTP(first)
	r := start(t, cfg)
	answers := func(addr string) bool {
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}
	if !answers(first) {
		t.Fatal("first address does not answer")
	}

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	withHTTP(busy.Addr().String())
	if _, err := r.d.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "listen.http") {
		t.Fatalf("reload onto a busy port: %v, want a listen.http error", err)
	}
	if !answers(first) {
		t.Fatal("a rejected reload stopped the listener")
	}

	withHTTP(second)
	if _, err := r.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !answers(second) || answers(first) {
		t.Fatalf("after the move: new answers %v, old answers %v", answers(second), answers(first))
	}
}
