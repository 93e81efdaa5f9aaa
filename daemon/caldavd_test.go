package daemon

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/holdover/holdover/endpoints/control"
)

func TestCalDAVEndpointServesCalendarLoginsAndFollowsReloads(t *testing.T) {
	t.Setenv("HOLDOVER_TEST_PW", "remote")
	t.Setenv("HOLDOVER_TEST_LOCAL", "local-secret")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "config.yaml")
	write := func(addr, local string) {
		// The provider is unreachable (port 1): the endpoint serves the
		// mirror all the same.
		text := fmt.Sprintf(`data_dir: %s
listen: {http: "", smtp: "", imap: "", caldav: "%s"}
accounts:
  - name: work
    calendar:
      caldav: {url: "http://127.0.0.1:1/", username: me, password_env: HOLDOVER_TEST_PW}
%s`, filepath.Join(dir, "data"), addr, local)
		if err := os.WriteFile(cfg, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	propfind := func(addr, user string) int {
		t.Helper()
		req, _ := http.NewRequest("PROPFIND", "http://"+addr+"/work/calendars/", nil)
		req.Header.Set("Depth", "1")
		req.SetBasicAuth(user, "local-secret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	first := freeAddr(t)
	write(first, "      local: {username: cal, password_env: HOLDOVER_TEST_LOCAL}\n")
	r := start(t, cfg)
	if got := r.d.Info().Listeners; !slices.Contains(got, control.Listener{Name: "caldav", Addr: first}) {
		t.Fatalf("status listeners: %v, want caldav on %s", got, first)
	}
	if code := propfind(first, "cal"); code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND with the calendar.local login: %d", code)
	}

	// Without a local login nobody could log in: the endpoint stops.
	write(first, "")
	if _, err := r.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := propfind(first, "cal"); code != 0 {
		t.Fatalf("still serving without a login: %d", code)
	}
	for _, l := range r.d.Info().Listeners {
		if l.Name == "caldav" {
			t.Fatalf("caldav still listed without a login: %v", l)
		}
	}

	// mail.local serves as the calendar login when calendar.local is not
	// set, on a new address.
	second := freeAddr(t)
	write(second, `    mail:
      smtp: {host: 127.0.0.1, port: 1, tls: none, username: me, password_env: HOLDOVER_TEST_PW}
      local: {username: mailuser, password_env: HOLDOVER_TEST_LOCAL}
`)
	if _, err := r.d.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if code := propfind(second, "mailuser"); code != http.StatusMultiStatus {
		t.Fatalf("PROPFIND with the mail.local login: %d", code)
	}
}
