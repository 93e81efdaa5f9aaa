package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
)

// silentListener accepts connections and never writes: a provider's
// overloaded front end, or a half-open path.
func silentListener(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// A provider that accepts the connection and never answers: a sync
// asked of the daemon (what `holdover sync --once` does when it runs)
// fails as transient within mail.timeout, and status says the service
// is connecting while it waits, instead of the last error from before.
func TestStatusShowsConnectingWhileASilentServerHoldsTheSync(t *testing.T) {
	t.Setenv("HOLDOVER_TEST_PW", "pw")
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfgPath := filepath.Join(dir, "config.yaml")
	port := silentListener(t)
	const timeout = 2 * time.Second
	yaml := fmt.Sprintf("data_dir: %s\nlisten: {http: \"\", smtp: \"\"}\naccounts:\n  - name: work\n    mail:\n      timeout: %s\n      idle: [INBOX]\n      imap: {host: 127.0.0.1, port: %d, tls: none, username: me, password_env: HOLDOVER_TEST_PW}\n",
		data, timeout, port)
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	d := start(t, cfgPath).d
	cfg, err := config.Load(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	client := control.NewClient(cfg.ControlSocket())

	type result struct {
		err  error
		took time.Duration
	}
	// The error of a sync asked of the daemon is in its result.
	done := make(chan result, 1)
	began := time.Now()
	go func() {
		raw, err := client.SyncNow(ctx, "work", control.SyncOptions{})
		if err == nil {
			var res []SyncResult
			if err = json.Unmarshal(raw, &res); err == nil && len(res) == 1 && res[0].Error != "" {
				err = errors.New(res[0].Error)
			}
		}
		done <- result{err, time.Since(began)}
	}()

	var words string
	for deadline := time.Now().Add(timeout); time.Now().Before(deadline) && !strings.HasPrefix(words, "connecting since "); {
		st, err := CollectStatus(ctx, cfg, d.db)
		if err != nil {
			t.Fatal(err)
		}
		if len(st.Accounts) == 1 && len(st.Accounts[0].Services) == 1 {
			words = st.Accounts[0].Services[0].Words
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.HasPrefix(words, "connecting since ") {
		t.Errorf("status while the server is silent: %q, want \"connecting since HH:MM:SS\"", words)
	}

	var r result
	select {
	case r = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("the sync still waits after 30s; mail.timeout is 2s")
	}
	// The loop's own pass may be connecting when the sync is asked for:
	// the answer comes after at most two attempts.
	if r.err == nil || !strings.Contains(r.err.Error(), "no answer within 2s (mail.timeout)") || r.took > 2*timeout+3*time.Second {
		t.Fatalf("sync: %v after %s; want \"no answer within 2s\" within %s", r.err, r.took.Round(time.Millisecond), 2*timeout+3*time.Second)
	}
	t.Logf("sync failed after %s: %v", r.took.Round(time.Millisecond), r.err)
}
