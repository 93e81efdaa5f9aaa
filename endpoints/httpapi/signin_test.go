package httpapi

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
)

// needsLoginDaemon answers a status with SMTP waiting for a sign-in.
type needsLoginDaemon struct{ fakeDaemon }

func (needsLoginDaemon) Status(context.Context) (apiv1.Status, error) {
	svc := apiv1.ServiceStatus{Service: "smtp", Kind: "sending mail", State: store.HealthNeedsLogin, NeedsLogin: true, Action: "holdover account login work",
		LastError: "oauth2 sign-in: the identity provider no longer accepts the sign-in (invalid_grant …)"}
	svc.Words = apiv1.ServiceWords(svc, time.Now())
	return apiv1.Status{Accounts: []apiv1.AccountStatus{{Name: "work", Configured: true, Services: []apiv1.ServiceStatus{svc}, SignIn: &apiv1.SignIn{}}}}, nil
}

func TestPageAndAPIShowNeedsLoginWithTheCommand(t *testing.T) {
	s := New(Options{Metrics: prometheus.NewRegistry(), Ready: func() bool { return true }, Token: testToken, Daemon: &needsLoginDaemon{}})
	ts := httptest.NewServer(s)
	defer ts.Close()
	_, body := do(t, ts, req{path: "/", header: bearer(testToken)})
	for _, want := range []string{"needs sign-in: run holdover account login work", "not signed in — run <code>holdover account login work</code>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "down since") {
		t.Error("the page calls needs-login an outage")
	}
	_, body = do(t, ts, req{path: "/api/v1/status", header: bearer(testToken)})
	compact := strings.NewReplacer(" ", "", "\n", "").Replace(body)
	for _, want := range []string{`"needs_login":true`, `"action":"holdoveraccountloginwork"`, `"sign_in":{"signed_in":false}`} {
		if !strings.Contains(compact, want) {
			t.Errorf("/api/v1/status lacks %s:\n%s", want, body)
		}
	}
}
