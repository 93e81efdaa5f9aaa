package mailsync_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
	"github.com/holdover/holdover/sync/mailsync"
)

// A sign-in that is gone is not retried with the failure backoff: the
// loop waits an interval (a login asks for a pass itself), IDLE too.
func TestRunnerWaitsAnIntervalWhenTheAccountNeedsLogin(t *testing.T) {
	srv := startServer(t)
	f := newFixture(t, srv)
	var dials, idles atomic.Int64
	gone := hsync.Errorf(hsync.NeedsLogin, "oauth2 sign-in", errors.New("invalid_grant: run `holdover account login work`"))
	eng := mailsync.New(mailsync.Options{Account: "work", DB: f.db, SpoolDir: t.TempDir(),
		Dial: func(context.Context) (hsync.MailRemote, error) { dials.Add(1); return nil, gone }})
	r := &mailsync.Runner{Engine: eng, Interval: time.Hour, Health: &hsync.Health{DB: f.db},
		IdleDial: func(context.Context) (hsync.MailIdler, error) { idles.Add(1); return nil, gone }}
	r.Retry.Base, r.Retry.Cap = time.Millisecond, 5*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	time.Sleep(300 * time.Millisecond) // 60 retries' worth of the failure backoff
	cancel()
	<-done
	if dials.Load() != 1 || idles.Load() != 1 {
		t.Errorf("%d sync dials, %d IDLE dials in 300 ms; want 1 each (then an interval's wait)", dials.Load(), idles.Load())
	}
	hs, _ := f.db.HealthRows(context.Background())
	if len(hs) != 1 || hs[0].State != store.HealthNeedsLogin {
		t.Errorf("health = %+v; want needs-login", hs)
	}
	if os, _ := f.db.Outages(context.Background(), 0); len(os) != 0 {
		t.Errorf("outages = %+v; needs-login is not an outage", os)
	}
}
