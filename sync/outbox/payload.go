package outbox

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	hsync "github.com/holdover/holdover/sync"
)

// Action kinds, as stored in outbox.kind.
const (
	KindFlags  = "mail.flags"
	KindMove   = "mail.move"
	KindDelete = "mail.delete"
	KindAppend = "mail.append"
	KindSend   = "mail.send"
	// Calendar kinds: replayed by package calsync's executor.
	KindCalPut    = "cal.put"
	KindCalDelete = "cal.delete"
)

// ServiceKinds says which service replays which kinds.
var ServiceKinds = map[string][]string{
	"imap":   {KindFlags, KindMove, KindDelete, KindAppend},
	"smtp":   {KindSend},
	"caldav": {KindCalPut, KindCalDelete},
	// Files kinds: replayed by package filesync's executor.
	"webdav": {"file.put", "file.delete", "file.move", "file.mkdir"},
}

// FlagsPayload is a flag delta on a stored message.
type FlagsPayload struct {
	Message int64    `json:"message"` // mail_messages.id
	Add     []string `json:"add,omitempty"`
	Remove  []string `json:"remove,omitempty"`
}

// MovePayload moves a stored message to another folder.
type MovePayload struct {
	Message int64  `json:"message"`
	Dest    string `json:"dest"`
}

// DeletePayload deletes a stored message: a move to Trash when the
// account has one, \Deleted + UID EXPUNGE otherwise.
type DeletePayload struct {
	Message int64  `json:"message"`
	Trash   string `json:"trash,omitempty"`
}

// SendPayload is a message to relay; its bytes are the action's body.
type SendPayload struct {
	Envelope  hsync.Envelope `json:"envelope"`
	MessageID string         `json:"message_id"`
	Size      int64          `json:"size"`
}

// AppendPayload stores a copy of a body in a folder: the Sent copy of a
// sent message, or a message a mail app appended or copied through the
// local IMAP endpoint (Message: its local-only row, which the replay
// binds to the server's copy; its flags are the row's when replayed).
type AppendPayload struct {
	Message   int64    `json:"message,omitempty"`
	Folder    string   `json:"folder"`
	Flags     []string `json:"flags,omitempty"`
	MessageID string   `json:"message_id"`
	Size      int64    `json:"size"`
}

func mailKey(id int64) string { return "mail:" + strconv.FormatInt(id, 10) }

func encode(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // payloads are plain structs
	}
	return b
}

func decode(b []byte, v any) error {
	if err := json.Unmarshal(b, v); err != nil {
		return hsync.Errorf(hsync.Permanent, "outbox payload", fmt.Errorf("unreadable payload: %w", err))
	}
	return nil
}

// composeFlags applies a delta (add, remove) after an earlier one.
func composeFlags(p FlagsPayload, add, remove []string) FlagsPayload {
	out := FlagsPayload{Message: p.Message}
	has := func(list []string, f string) bool {
		return slices.ContainsFunc(list, func(x string) bool { return strings.EqualFold(x, f) })
	}
	for _, f := range p.Add {
		if !has(remove, f) {
			out.Add = append(out.Add, f)
		}
	}
	for _, f := range p.Remove {
		if !has(add, f) {
			out.Remove = append(out.Remove, f)
		}
	}
	for _, f := range add {
		if !has(out.Add, f) {
			out.Add = append(out.Add, f)
		}
	}
	for _, f := range remove {
		if !has(out.Remove, f) {
			out.Remove = append(out.Remove, f)
		}
	}
	return out
}

// applyFlags returns flags after a delta.
func applyFlags(flags, add, remove []string) []string {
	var out []string
	for _, f := range flags {
		if !slices.ContainsFunc(remove, func(r string) bool { return strings.EqualFold(r, f) }) {
			out = append(out, f)
		}
	}
	for _, f := range add {
		if !slices.ContainsFunc(out, func(x string) bool { return strings.EqualFold(x, f) }) {
			out = append(out, f)
		}
	}
	return out
}
