package daemon

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/holdover/holdover/endpoints/control"
)

// connectWatch knows which services have a connection attempt under way
// and since when, so that `holdover status` can say "connecting since
// 14:02:05" while a provider accepts the connection and says nothing
// (bounded by mail.timeout). It is runtime state of this daemon, served
// through the control socket: an attempt costs no database write.
type connectWatch struct {
	mu   sync.Mutex
	next uint64
	// attempts holds, per account and service, each attempt's start.
	attempts map[[2]string]map[uint64]time.Time
}

func newConnectWatch() *connectWatch {
	return &connectWatch{attempts: map[[2]string]map[uint64]time.Time{}}
}

// begin records an attempt; the returned func ends it.
func (w *connectWatch) begin(account, service string) (end func()) {
	k := [2]string{account, service}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.next++
	id := w.next
	if w.attempts[k] == nil {
		w.attempts[k] = map[uint64]time.Time{}
	}
	w.attempts[k][id] = time.Now()
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.attempts[k], id)
		if len(w.attempts[k]) == 0 {
			delete(w.attempts, k)
		}
	}
}

// list returns the services connecting now, each since its oldest
// attempt still waiting, by account and service.
func (w *connectWatch) list() []control.Connecting {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []control.Connecting{}
	for k, as := range w.attempts {
		var since time.Time
		for _, t := range as {
			if since.IsZero() || t.Before(since) {
				since = t
			}
		}
		out = append(out, control.Connecting{Account: k[0], Service: k[1], Since: since})
	}
	slices.SortFunc(out, func(a, b control.Connecting) int {
		return strings.Compare(a.Account+"/"+a.Service, b.Account+"/"+b.Service)
	})
	return out
}

// watchDial wraps a connector's dial (connect, greeting, login) so the
// attempt shows in status while it waits. A nil watch (no daemon: `sync
// --once` in its own process) returns dial as is.
func watchDial[T any](w *connectWatch, account, service string, dial func(context.Context) (T, error)) func(context.Context) (T, error) {
	if w == nil {
		return dial
	}
	return func(ctx context.Context) (T, error) {
		defer w.begin(account, service)()
		return dial(ctx)
	}
}
