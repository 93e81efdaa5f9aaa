package imap

import (
	"context"
	"errors"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	hsync "github.com/holdover/holdover/sync"
)

// idleRestart re-issues IDLE before the 30-minute inactivity timeout of
// RFC 3501 (servers and NAT boxes drop quieter connections).
const idleRestart = 25 * time.Minute

var _ hsync.MailIdler = (*Session)(nil)

// Idle implements sync.MailIdler: it selects folder and waits in IDLE,
// calling changed once after selecting and then whenever the server
// reports new, expunged or changed messages. Notifications are coalesced: changed is never called twice
// for one burst, and never blocks the connection. A session signed in
// with OAuth2 ends its IDLE before the token expires and returns nil
// (see oauthsasl.RenewBefore): the caller dials a new session at once.
func (s *Session) Idle(ctx context.Context, folder string, changed func()) error {
	if !s.caps.Idle {
		return hsync.Errorf(hsync.Permanent, "imap idle", errors.New("the server does not support IDLE"))
	}
	if _, err := s.Select(ctx, folder); err != nil {
		return err
	}
	// What arrived before this session watched the folder (since the
	// last pass: the daemon's start, a reconnect) is in SELECT's answer,
	// which go-imap gives to the SELECT command, not to the handler that
	// pokes: report once now, so a pass catches up, as NOTIFY's session
	// does after each (re)connect.
	changed()
	// The server is silent during IDLE by design: allow it until the
	// restart, and restore the normal limit after.
	s.conn.timeout.Store(int64(idleRestart + time.Minute))
	defer s.conn.timeout.Store(int64(s.readTimeout))
	for {
		cmd, err := s.c.Idle()
		if err != nil {
			return hsync.Errorf(classify(err), "imap idle "+folder, err)
		}
		wait, renew := idleRestart, false
		if d, ok := s.untilRenew(); ok && d < wait {
			wait, renew = d, true
		}
		timer := time.NewTimer(wait)
		var done, renewing bool
		select {
		case <-ctx.Done():
			done = true
		case <-timer.C:
			renewing = renew
		case <-s.notify:
			changed()
		case <-s.c.Closed():
			timer.Stop()
			return hsync.Errorf(hsync.Transient, "imap idle "+folder, errors.New("connection closed"))
		}
		timer.Stop()
		closeErr := cmd.Close()
		waitErr := cmd.Wait()
		if done {
			return ctx.Err()
		}
		if err := errors.Join(closeErr, waitErr); err != nil {
			return hsync.Errorf(classify(err), "imap idle "+folder, err)
		}
		// Drain a notification that raced with DONE.
		select {
		case <-s.notify:
			changed()
		default:
		}
		if renewing {
			return nil
		}
	}
}

// unilateralHandler routes the server's untagged EXISTS/EXPUNGE/FETCH into
// a one-slot channel: a burst of them is one notification.
func unilateralHandler(notify chan struct{}) *imapclient.UnilateralDataHandler {
	poke := func() {
		select {
		case notify <- struct{}{}:
		default:
		}
	}
	return &imapclient.UnilateralDataHandler{
		Expunge: func(uint32) { poke() },
		Mailbox: func(d *imapclient.UnilateralDataMailbox) {
			if d.NumMessages != nil {
				poke()
			}
		},
		Fetch: func(*imapclient.FetchMessageData) { poke() },
	}
}
