package mailsync

import (
	"context"

	hsync "github.com/holdover/holdover/sync"
)

// Lanes are the extra sessions a large download runs on besides the
// pass's own (Options.Connections in all). They are dialed when a
// download first needs them, handed from folder to folder during a pass,
// and closed when the pass ends, so an account with nothing to download
// never holds more than one connection. A lane the server refuses (too
// many connections, say) is simply not used: the download goes on with
// the sessions it has.

// laneFor returns a session with folder selected, reusing an idle lane
// or dialing a new one. It reports false when none could be had, or when
// the folder's UIDVALIDITY is no longer the listing's (the pass's own
// session then finds out and stops).
func (e *Engine) laneFor(ctx context.Context, folder string, validity uint32) (hsync.MailRemote, bool) {
	e.lanesMu.Lock()
	var s hsync.MailRemote
	if n := len(e.idleLanes); n > 0 {
		s = e.idleLanes[n-1]
		e.idleLanes = e.idleLanes[:n-1]
	}
	e.lanesMu.Unlock()
	if s == nil {
		var err error
		if s, err = e.opts.Dial(ctx); err != nil {
			if ctx.Err() == nil {
				e.log.Info("extra connection for downloads refused; going on with fewer", "err", err)
			}
			return nil, false
		}
	}
	sel, err := s.Select(ctx, folder)
	if err != nil || sel.UIDValidity != validity {
		s.Close()
		return nil, false
	}
	return s, true
}

// releaseLane keeps a healthy lane for the pass's next download.
func (e *Engine) releaseLane(s hsync.MailRemote) {
	e.lanesMu.Lock()
	defer e.lanesMu.Unlock()
	e.idleLanes = append(e.idleLanes, s)
}

// dropLane closes a lane after an error: its state is unknown.
func (e *Engine) dropLane(s hsync.MailRemote) { s.Close() }

// closeLanes closes the idle lanes at the end of a pass.
func (e *Engine) closeLanes() {
	e.lanesMu.Lock()
	lanes := e.idleLanes
	e.idleLanes = nil
	e.lanesMu.Unlock()
	for _, s := range lanes {
		s.Close()
	}
}
