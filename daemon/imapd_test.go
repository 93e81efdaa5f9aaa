package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/holdover/holdover/endpoints/control"
)

func TestIMAPEndpointServesLocalLoginsAndFollowsReloads(t *testing.T) {
	t.Setenv("HOLDOVER_TEST_PW", "remote")
	t.Setenv("HOLDOVER_TEST_LOCAL", "local-secret")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	write := func(imapAddr string) {
		// The provider is unreachable (port 1): the endpoint serves the
		// mirror all the same.
		text := fmt.Sprintf(`data_dir: %s
listen: {http: "", smtp: "", imap: "%s"}
accounts:
  - name: work
    mail:
      imap: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      smtp: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      local: {username: me, password_env: HOLDOVER_TEST_LOCAL}
`, filepath.Join(dir, "data"), imapAddr)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	first := freeAddr(t)
	write(first)
	r := start(t, cfg)
	if got := r.d.Info().Listeners; !slices.Contains(got, control.Listener{Name: "imap", Addr: first}) {
		t.Fatalf("status listeners: %v, want imap on %s", got, first)
	}
	c, err := imapclient.DialInsecure(first, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("me", "local-secret").Wait(); err != nil {
		t.Fatalf("login with the mail.local password: %v", err)
	}
	if _, err := c.List("", "*", nil).Collect(); err != nil {
		t.Fatalf("list: %v", err)
	}

	second := freeAddr(t)
	write(second)
	if _, err := r.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := imapclient.DialInsecure(first, nil); err == nil {
		t.Fatal("the old address still accepts connections after the move")
	}
	c2, err := imapclient.DialInsecure(second, nil)
	if err != nil {
		t.Fatalf("new address: %v", err)
	}
	defer c2.Close()
	if err := c2.Login("me", "local-secret").Wait(); err != nil {
		t.Fatalf("login on the new address: %v", err)
	}

	write("")
	if _, err := r.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, l := range r.d.Info().Listeners {
		if l.Name == "imap" {
			t.Fatalf("imap still listed after disabling it: %v", l)
		}
	}
}
