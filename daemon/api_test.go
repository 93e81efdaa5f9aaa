package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
)

// apiClient calls a running daemon's listen.http with its token.
type apiClient struct {
	t     *testing.T
	addr  string
	token string
}

func (c apiClient) call(method, path string, out any) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, "http://"+c.addr+path, nil)
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Type") != "application/json" && strings.HasPrefix(path, "/api/") {
		c.t.Errorf("%s %s: Content-Type %q", method, path, resp.Header.Get("Content-Type"))
	}
	if out != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	return resp.StatusCode, string(b)
}

func startWithAPI(t *testing.T) (*running, apiClient) {
	t.Helper()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "config.yaml")
	writeConfig(t, cfg, data, "work")
	addr := freeAddr(t)
	text, _ := os.ReadFile(cfg)
	os.WriteFile(cfg, []byte(strings.Replace(string(text), `http: ""`, `http: "`+addr+`"`, 1)), 0o600)
	r := start(t, cfg)
	token, err := os.ReadFile(filepath.Join(data, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	return r, apiClient{t: t, addr: addr, token: strings.TrimSpace(string(token))}
}

func TestAPIAnswersTheCLIsDocumentsAndDecisions(t *testing.T) {
	r, api := startWithAPI(t)
	ctx := context.Background()
	// A send whose fate is unclear: a mail conflict on its action (the
	// account has no SMTP server, so nothing replays it meanwhile).
	var convID int64
	err := r.d.db.Write(ctx, func(tx *store.Tx) error {
		id, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: "mail.send", TargetKey: "send:<a@b>", Payload: []byte("{}")})
		if err != nil {
			return err
		}
		convID, err = tx.InsertConflict(ctx, store.Conflict{Account: "work", Kind: "mail", TargetKey: "send:<a@b>", OutboxID: id,
			LocalMeta: `{"message_id":"a@b"}`, RemoteMeta: `{"message_id":"a@b"}`, Policy: "ask"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	var st apiv1.Status
	if code, body := api.call("GET", "/api/v1/status", &st); code != 200 || !st.Daemon.Running || len(st.Accounts) != 1 || st.Accounts[0].OpenConflicts != 1 {
		t.Fatalf("status = %d %s", code, body)
	}
	cli, err := CollectStatus(ctx, r.d.Config(), r.d.db)
	if err != nil {
		t.Fatal(err)
	}
	// The services' health moves on its own (the daemon is connecting);
	// the rest must read the same.
	for i := range cli.Accounts {
		cli.Accounts[i].Services, st.Accounts[i].Services = nil, nil
	}
	if a, b := mustJSON(t, cli.Accounts), mustJSON(t, st.Accounts); a != b {
		t.Fatalf("the API's accounts differ from holdover status --json:\n%s\n%s", b, a)
	}
	var accounts []apiv1.AccountStatus
	if code, _ := api.call("GET", "/api/v1/accounts", &accounts); code != 200 || len(accounts) != 1 || accounts[0].Name != "work" {
		t.Fatalf("accounts = %d %+v", code, accounts)
	}
	var actions []apiv1.Action
	if code, body := api.call("GET", "/api/v1/outbox?account=work&service=smtp&open=1", &actions); code != 200 || len(actions) != 1 || actions[0].Words != "waiting" || actions[0].Service != "smtp" {
		t.Fatalf("outbox = %d %s", code, body)
	}
	if code, body := api.call("GET", "/api/v1/outbox?state=done", &actions); code != 200 || len(actions) != 0 {
		t.Fatalf("outbox?state=done = %d %s", code, body)
	}
	if code, body := api.call("GET", "/api/v1/outbox?state=bogus", nil); code != 400 || !strings.Contains(body, `"error"`) {
		t.Fatalf("outbox?state=bogus = %d %s", code, body)
	}
	var conflicts []apiv1.Conflict
	if code, body := api.call("GET", "/api/v1/conflicts", &conflicts); code != 200 || len(conflicts) != 1 || conflicts[0].ID != convID || conflicts[0].Summary == "" {
		t.Fatalf("conflicts = %d %s", code, body)
	}
	var outages []apiv1.Outage
	if code, body := api.call("GET", "/api/v1/outages", &outages); code != 200 || body == "null\n" {
		t.Fatalf("outages = %d %q", code, body)
	}

	for _, tc := range []struct {
		name, method, path string
		code               int
		body               string
	}{
		{"resolve without a decision", "POST", "/api/v1/conflicts/1/resolve?take=maybe", 400, "want local, remote"},
		{"resolve a missing conflict", "POST", "/api/v1/conflicts/999/resolve?take=local", 404, "not found"},
		{"resolve", "POST", "/api/v1/conflicts/1/resolve?take=remote", 200, `"resolution": "remote"`},
		{"resolve again", "POST", "/api/v1/conflicts/1/resolve?take=local", 409, "resolved already"},
		{"cancel what the resolve cancelled", "POST", "/api/v1/outbox/1/cancel", 409, "cancelled"},
		{"retry a missing action", "POST", "/api/v1/outbox/999/retry", 404, "not found"},
		{"cancel a missing action", "POST", "/api/v1/outbox/999/cancel", 404, "not found"},
		{"an ID that is no number", "POST", "/api/v1/outbox/x/retry", 400, "positive number"},
		{"sync-now of an unknown account", "POST", "/api/v1/sync-now?account=nope", 422, "no account"},
		{"a GET-only route asked with POST", "POST", "/api/v1/status", 405, "use GET"},
		{"an unknown API route", "GET", "/api/v1/nope", 404, `"error"`},
	} {
		if code, body := api.call(tc.method, tc.path, nil); code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s: %s %s = %d %s, want %d with %q", tc.name, tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestMetricsPerAccountAndService(t *testing.T) {
	r, api := startWithAPI(t)
	ctx := context.Background()
	err := r.d.db.Write(ctx, func(tx *store.Tx) error {
		id, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: "work", Kind: "mail.send", TargetKey: "send:<m@b>", Payload: []byte("{}")})
		if err != nil {
			return err
		}
		if _, err = tx.InsertConflict(ctx, store.Conflict{Account: "work", Kind: "mail", TargetKey: "send:<m@b>", OutboxID: id,
			LocalMeta: `{"message_id":"m@b"}`, RemoteMeta: `{}`, Policy: "ask"}); err != nil {
			return err
		}
		_, err = tx.OpenOutage(ctx, "work", "caldav", "test")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// The IMAP server of the test config does not answer: the loop's
	// failed passes are timed too.
	var body string
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, body = api.call("GET", "/metrics", nil)
		if strings.Contains(body, `holdover_sync_pass_duration_seconds_count{account="work",service="imap"}`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, want := range []string{
		`holdover_outbox_actions{account="work",service="smtp",state="pending"} 1`,
		`holdover_conflicts_open{account="work",service="smtp"} 1`,
		`holdover_sync_pass_duration_seconds_count{account="work",service="imap"}`,
		`holdover_sync_bytes_total{account="work",service="imap"} 0`,
		`holdover_outages_total{account="work",service="caldav"} 1`,
		`holdover_outbox_oldest_waiting_timestamp_seconds{account="work",service="smtp"}`,
		`holdover_outage_seconds_total{account="work",service="caldav"}`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, "m@b") {
		t.Error("a Message-ID is in a label")
	}
}
