package sync

import (
	"context"
	"io"
)

// Envelope is the SMTP envelope of a message: who it is from (MAIL FROM)
// and who gets it (RCPT TO), independent of the headers.
type Envelope struct {
	From string   `json:"from"`
	To   []string `json:"to"`
}

// Sender relays messages to an account's SMTP server. Errors are
// classified: a 5xx reply is Permanent and carries the server's reply
// text, a 4xx reply or a network failure Transient, a refused login Auth.
//
// commit, when not nil, is called once the whole message is written and
// just before the final dot that makes the server take it: the last
// moment a failure certainly leaves nothing delivered. If commit fails,
// the transaction is abandoned without the dot.
type Sender interface {
	Send(ctx context.Context, env Envelope, msg io.Reader, commit func() error) error
	Close() error
}

// SenderDialer opens a Sender session for an account.
type SenderDialer func(ctx context.Context) (Sender, error)
