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
type Sender interface {
	Send(ctx context.Context, env Envelope, msg io.Reader) error
	Close() error
}

// SenderDialer opens a Sender session for an account.
type SenderDialer func(ctx context.Context) (Sender, error)
