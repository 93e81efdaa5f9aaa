package outbox

import (
	"context"
	"errors"
	"fmt"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// SendExecutor replays mail.send: it relays the stored message through
// the account's SMTP server and, when SaveSent, queues its copy for the
// Sent folder (a separate mail.append action, so a failed copy never
// causes a second send).
type SendExecutor struct {
	DB      *store.DB
	Account string
	Dial    hsync.SenderDialer
	// IMAP looks for an earlier attempt's message in Sent before a retry;
	// nil when the account has no IMAP (a retry then cannot check).
	IMAP     hsync.MailWriterDialer
	SaveSent bool

	session hsync.Sender
}

// Close implements Executor.
func (e *SendExecutor) Close() error {
	if e.session == nil {
		return nil
	}
	err := e.session.Close()
	e.session = nil
	return err
}

// Execute implements Executor.
func (e *SendExecutor) Execute(ctx context.Context, row store.OutboxRow) (func(*store.Tx) error, error) {
	if row.Kind != KindSend {
		return nil, hsync.Errorf(hsync.Permanent, "outbox", fmt.Errorf("kind %q is not a send", row.Kind))
	}
	var p SendPayload
	if err := decode(row.Payload, &p); err != nil {
		return nil, err
	}
	sent, hasSent, err := e.DB.MailFolderBySpecialUse(ctx, e.Account, `\Sent`)
	if err != nil {
		return nil, err
	}
	if row.Attempts > 1 && e.IMAP != nil && hasSent {
		// An earlier attempt may have been sent before its outcome was
		// recorded (a crash, a connection cut after the final dot).
		already, err := e.inSent(ctx, sent.Name, p.MessageID)
		if err != nil {
			return nil, err
		}
		if already {
			return nil, nil
		}
	}
	if row.Phase == phaseCommitting {
		// An earlier attempt got as far as the final dot and its outcome
		// is unknown: the server may have the message. Sending again could
		// double it, so the user decides (outbox retry or cancel).
		return nil, maybeSent(ctx, row, p, errMaybeSent)
	}
	if e.session != nil && hsync.SignInEnding(e.session) {
		// Its OAuth2 token runs out: the provider would end the session
		// mid-message, so a new one signs in with a fresh token.
		_ = e.Close()
	}
	if e.session == nil {
		s, err := e.Dial(ctx)
		if err != nil {
			return nil, err
		}
		e.session = s
	}
	body, err := e.DB.OpenMailBody(ctx, row.BodyID)
	if err != nil {
		return nil, hsync.Errorf(hsync.Permanent, "outbox send", err)
	}
	commit := func() error { return e.DB.SetOutboxPhase(ctx, row.ID, phaseCommitting) }
	if err := e.session.Send(ctx, p.Envelope, body, commit); err != nil {
		var kind = hsync.KindOf(err)
		if kind == hsync.Transient && e.committed(ctx, row.ID) {
			// Cut after the final dot without a reply: as ambiguous as a
			// crash there.
			return nil, maybeSent(ctx, row, p, fmt.Errorf("%w (%v)", errMaybeSent, err))
		}
		return nil, err
	}
	if !e.SaveSent || !hasSent {
		return nil, nil
	}
	return func(tx *store.Tx) error {
		_, err := tx.EnqueueOutbox(ctx, store.OutboxAction{Account: e.Account, Kind: KindAppend, TargetKey: "append:" + p.MessageID, BodyID: row.BodyID,
			Payload: encode(AppendPayload{Folder: sent.Name, Flags: []string{`\Seen`}, MessageID: p.MessageID, Size: p.Size})})
		return err
	}, nil
}

// phaseCommitting marks a send whose final dot was about to go.
const phaseCommitting = "committing"

var errMaybeSent = errors.New("the server may already have this message: holdover stopped, or the connection broke, while it was accepting it, and it is not in Sent. " +
	"Check with the recipient or in your provider's Sent folder, then `holdover outbox retry ID` to send it again or `holdover outbox cancel ID`")

// maybeSent parks a send whose outcome is unknown as a conflict, listed
// with the others (holdover conflicts): taking the local side sends it
// again, taking the remote side accepts that the server has it.
func maybeSent(ctx context.Context, row store.OutboxRow, p SendPayload, why error) error {
	meta := encode(map[string]any{"message_id": p.MessageID, "to": p.Envelope.To, "size": p.Size})
	return &Settled{State: store.OutboxConflict, Err: hsync.Errorf(hsync.Conflict, "outbox send", why), Apply: func(tx *store.Tx) error {
		_, err := tx.InsertConflict(ctx, store.Conflict{Account: row.Account, Kind: "mail", TargetKey: row.TargetKey, OutboxID: row.ID,
			LocalMeta: string(meta), RemoteMeta: `{"unknown":true}`, Policy: "ask"})
		return err
	}}
}

// committed reports whether the action reached the final dot.
func (e *SendExecutor) committed(ctx context.Context, id int64) bool {
	r, err := e.DB.OutboxRow(ctx, id)
	return err == nil && r.Phase == phaseCommitting
}

func (e *SendExecutor) inSent(ctx context.Context, folder, msgID string) (bool, error) {
	s, err := e.IMAP(ctx)
	if err != nil {
		return false, err
	}
	defer s.Close()
	if _, err := s.Select(ctx, folder); err != nil {
		return false, err
	}
	uids, err := s.SearchMessageID(ctx, msgID)
	return len(uids) > 0, err
}
