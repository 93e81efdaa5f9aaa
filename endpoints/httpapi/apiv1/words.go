package apiv1

import (
	"fmt"
	"strings"
	"time"

	"github.com/holdover/holdover/store"
)

// The words a person reads for each queue state. "failed" is never shown:
// a failed action will be retried, and while its provider is down it is
// simply waiting for it; nothing is lost.
const (
	WordsWaiting   = "waiting"   // queued; its provider is down or has not been tried yet
	WordsRetrying  = "retrying"  // the provider answered with an error; tried again soon
	WordsSending   = "sending"   // in flight now
	WordsNeedsYou  = "needs you" // a conflict: decide it
	WordsGaveUp    = "gave up"   // a permanent error: kept, retry or cancel by hand
	WordsDone      = "done"
	WordsCancelled = "cancelled"
)

// ActionWords says what a stored state means for a person; down reports
// whether the action's provider is down now.
func ActionWords(state store.OutboxState, down bool) string {
	switch state {
	case store.OutboxPending:
		return WordsWaiting
	case store.OutboxFailed:
		if down {
			return WordsWaiting
		}
		return WordsRetrying
	case store.OutboxInflight:
		return WordsSending
	case store.OutboxConflict:
		return WordsNeedsYou
	case store.OutboxDead:
		return WordsGaveUp
	case store.OutboxDone:
		return WordsDone
	case store.OutboxCancelled:
		return WordsCancelled
	}
	return string(state)
}

// queueOrder is the order of Queue entries: what needs a person last, so
// the list reads as "8 waiting, 1 needs you".
var queueOrder = []string{WordsSending, WordsWaiting, WordsRetrying, WordsNeedsYou, WordsGaveUp}

// NewQueue orders counts by words (unknown words at the end).
func NewQueue(counts map[string]int) []QueueCount {
	out := []QueueCount{}
	seen := map[string]bool{}
	for _, w := range queueOrder {
		if n := counts[w]; n > 0 {
			out = append(out, QueueCount{Words: w, N: n})
		}
		seen[w] = true
	}
	for w, n := range counts {
		if !seen[w] && n > 0 {
			out = append(out, QueueCount{Words: w, N: n})
		}
	}
	return out
}

// QueueWords writes a queue as "8 waiting, 1 needs you", or "empty".
func QueueWords(q []QueueCount) string {
	if len(q) == 0 {
		return "empty"
	}
	parts := make([]string, len(q))
	for i, c := range q {
		parts[i] = fmt.Sprintf("%d %s", c.N, c.Words)
	}
	return strings.Join(parts, ", ")
}

// actionWhat is what each kind of action does, in words.
var actionWhat = map[string]string{
	"mail.flags":  "flag change",
	"mail.move":   "message move",
	"mail.delete": "message deletion",
	"mail.append": "message saved to a folder",
	"mail.send":   "message to send",
	"cal.put":     "event change",
	"cal.delete":  "event deletion",
	"file.put":    "upload",
	"file.delete": "deletion",
	"file.move":   "move",
	"file.mkdir":  "new folder",
}

// ActionWhat says what an action does, for a person: "flag change",
// "upload: report.txt" (a file action names its file).
func ActionWhat(kind, targetKey string) string {
	what, ok := actionWhat[kind]
	if !ok {
		return kind
	}
	if path, ok := strings.CutPrefix(targetKey, "file:"); ok && path != "" {
		return what + ": " + path
	}
	return what
}

// ServiceKind is what a person calls a service.
func ServiceKind(service string) string {
	switch service {
	case "imap":
		return "mail"
	case "smtp":
		return "sending mail"
	case "caldav":
		return "calendar"
	case "webdav":
		return "files"
	}
	return service
}

// ServiceWords says a service's state for a person as of now: "up",
// "down since 14:02 (12 min)", "having trouble since 14:02", "needs
// sign-in: run holdover account login work", "not synced yet".
func ServiceWords(s ServiceStatus, now time.Time) string {
	if s.ConnectingSince != nil {
		// What it does now first: the stored state is from the last
		// attempt, which a silent server may have ended long ago.
		w := "connecting since " + s.ConnectingSince.Local().Format("15:04:05")
		if s.Down() {
			s.ConnectingSince = nil
			w += " (" + ServiceWords(s, now) + ")"
		}
		return w
	}
	switch {
	case s.NeedsLogin && s.Action != "":
		return "needs sign-in: run " + s.Action
	case s.NeedsLogin:
		return "needs sign-in"
	case s.Outage != nil:
		return "down since " + Clock(s.Outage.StartedAt, now) + " (" + Duration(now.Sub(s.Outage.StartedAt)) + ")"
	case s.State == store.HealthDown && s.Since != nil:
		return "down since " + Clock(*s.Since, now) + " (" + Duration(now.Sub(*s.Since)) + ")"
	case s.State == store.HealthDown:
		return "down"
	case s.State == store.HealthDegraded:
		return "having trouble (retrying)"
	case s.State == store.HealthUp:
		return "up"
	}
	return "not synced yet"
}

// Clock writes a moment in local time: the time of day when it is today,
// with the date otherwise.
func Clock(t, now time.Time) string {
	t, now = t.Local(), now.Local()
	if t.YearDay() == now.YearDay() && t.Year() == now.Year() {
		return t.Format("15:04")
	}
	return t.Format("Jan 2 15:04")
}

// Duration writes a span the way a person says it: "40 s", "12 min",
// "3 h 5 min", "2 days".
func Duration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%d s", max(0, int(d/time.Second)))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d/time.Minute))
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		if m == 0 {
			return fmt.Sprintf("%d h", h)
		}
		return fmt.Sprintf("%d h %d min", h, m)
	}
	return fmt.Sprintf("%d days", int(d/(24*time.Hour)))
}
