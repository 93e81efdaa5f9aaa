// Package apiv1 holds the documents of holdover's JSON API, version 1:
// what GET /api/v1/… answer and what `holdover status --json`, `outbox ls
// --json` and `conflicts ls --json` print. One set of types for both, so
// the CLI and the API never drift apart.
//
// Rules: stored state names (store.OutboxState, store.HealthState) stay
// as they are in `state` fields; every `words` field is for a person and
// says what a state means for them (an action waiting for a provider that
// is down is "waiting", not "failed"). No document carries a payload, a
// password or a token.
package apiv1

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/store"
)

// ErrInvalid marks a request that cannot be done as asked (a bad `take`,
// say): the API answers 400. A missing ID is store.ErrNotFound (404); a
// decision already made is store.ErrState (409).
var ErrInvalid = errors.New("invalid request")

// Status is what `holdover status` shows and GET /api/v1/status answers.
// It is built from the store, so it works with the daemon stopped; the
// daemon adds its PID, reload state and last passes when it runs.
type Status struct {
	Daemon   DaemonStatus    `json:"daemon"`
	Accounts []AccountStatus `json:"accounts"`
}

// DaemonStatus says whether a daemon owns the data directory.
type DaemonStatus struct {
	Running bool                `json:"running"`
	PID     int                 `json:"pid,omitempty"`
	Info    *control.DaemonInfo `json:"info,omitempty"` // nil when its socket does not answer
	Error   string              `json:"error,omitempty"`
}

// AccountStatus is one account's services and queue.
type AccountStatus struct {
	Name string `json:"name"`
	// Configured is false for an account removed from the configuration
	// whose data is still stored.
	Configured bool            `json:"configured"`
	Services   []ServiceStatus `json:"services"`
	// Outbox counts the actions by stored state.
	Outbox map[store.OutboxState]int `json:"outbox"`
	// Queue counts the unfinished actions by what they mean for a person
	// ("waiting", "retrying", "needs you", "gave up"), in that order.
	Queue []QueueCount `json:"queue"`
	// OldestWaiting is when the oldest unfinished action was queued.
	OldestWaiting *time.Time `json:"oldest_waiting,omitempty"`
	OpenConflicts int        `json:"open_conflicts"`
	// SignIn is set for an account that signs in with OAuth2.
	SignIn *SignIn `json:"sign_in,omitempty"`
}

// QueueCount is a number of actions described in words.
type QueueCount struct {
	Words string `json:"words"`
	N     int    `json:"n"`
}

// ServiceStatus is one provider service's health.
type ServiceStatus struct {
	Service string `json:"service"` // imap, smtp, caldav, webdav
	// Kind is what a person calls it: mail, sending, calendar, files.
	Kind      string            `json:"kind"`
	State     store.HealthState `json:"state"`
	Since     *time.Time        `json:"since,omitempty"`
	LastError string            `json:"last_error,omitempty"`
	Outage    *Outage           `json:"outage,omitempty"` // the open one
	// LastSync is the end of the last successful sync pass this daemon
	// ran, and LastPass what it did (only while a daemon runs).
	LastSync *time.Time `json:"last_sync,omitempty"`
	LastPass string     `json:"last_pass,omitempty"`
	// ConnectingSince is when the daemon's connection attempt still
	// waiting (connect, greeting, login) began; nil when none waits.
	ConnectingSince *time.Time `json:"connecting_since,omitempty"`
	// Words says the state for a person: "up", "down since 14:02 (12 min)".
	Words string `json:"words"`
	// NeedsLogin: the account's OAuth2 sign-in is gone (revoked,
	// expired, never made); not an outage. Action is the command that
	// fixes it.
	NeedsLogin bool   `json:"needs_login,omitempty"`
	Action     string `json:"action,omitempty"`
}

// SignIn is what status shows of an account's OAuth2 sign-in: whether a
// token is stored and when the access token expires, never a token.
type SignIn struct {
	SignedIn bool       `json:"signed_in"`
	Expires  *time.Time `json:"expires,omitempty"`
	Problem  string     `json:"problem,omitempty"`
}

// Down reports whether the provider does not answer now.
func (s ServiceStatus) Down() bool { return s.State == store.HealthDown || s.Outage != nil }

// Outage is one provider outage.
type Outage struct {
	ID        int64      `json:"id"`
	Account   string     `json:"account"`
	Service   string     `json:"service"`
	StartedAt time.Time  `json:"started_at"`
	EndedAt   *time.Time `json:"ended_at,omitempty"` // nil while it lasts
	Seconds   int64      `json:"seconds"`            // so far, for an open one
	Cause     string     `json:"cause,omitempty"`
	Queued    int        `json:"queued"`   // actions queued during it
	Replayed  int        `json:"replayed"` // of them, replayed after it
}

// NewOutage converts a stored outage as of now.
func NewOutage(o store.Outage, now time.Time) Outage {
	out := Outage{ID: o.ID, Account: o.Account, Service: o.Service, StartedAt: o.StartedAt, Cause: o.Cause, Queued: o.Queued, Replayed: o.Replayed}
	end := now
	if !o.Open() {
		e := o.EndedAt
		out.EndedAt, end = &e, e
	}
	out.Seconds = int64(end.Sub(o.StartedAt) / time.Second)
	return out
}

// Action is an outbox row without its payload (it can be a whole
// message): its size is given instead.
type Action struct {
	ID            int64      `json:"id"`
	Account       string     `json:"account"`
	Service       string     `json:"service"`
	Kind          string     `json:"kind"`
	TargetKey     string     `json:"target_key"`
	State         string     `json:"state"`
	Words         string     `json:"words"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	BaseVersion   string     `json:"base_version,omitempty"`
	PayloadBytes  int        `json:"payload_bytes"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// WaitsForConflict is the open conflict an earlier action on the same
	// target met: this one runs once a person has decided it.
	WaitsForConflict int64 `json:"waits_for_conflict,omitempty"`
}

// ActionFilter selects actions; zero fields select all.
type ActionFilter struct {
	Account string
	Service string
	State   store.OutboxState
	// Open keeps only unfinished actions (not done or cancelled).
	Open  bool
	Limit int
}

// Conflict is a change made on both sides, with both versions summarised.
type Conflict struct {
	ID         int64      `json:"id"`
	Account    string     `json:"account"`
	Kind       string     `json:"kind"` // calendar, file, mail
	Target     string     `json:"target"`
	OutboxID   int64      `json:"outbox_id,omitempty"`
	Policy     string     `json:"policy"`
	Resolution string     `json:"resolution,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	// Summary says what happened in one line; LocalSummary and
	// RemoteSummary describe each side.
	Summary       string `json:"summary"`
	LocalSummary  string `json:"local_summary"`
	RemoteSummary string `json:"remote_summary"`
	// Takes are the decisions this conflict accepts (local, remote, and
	// for files both).
	Takes  []string        `json:"takes,omitempty"`
	Local  json.RawMessage `json:"local,omitempty"`
	Remote json.RawMessage `json:"remote,omitempty"`
}
