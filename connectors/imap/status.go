package imap

import (
	"context"
	"errors"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	hsync "github.com/holdover/holdover/sync"
)

// statusOptions are the STATUS items that tell whether a folder changed.
func (s *Session) statusOptions() *imap.StatusOptions {
	return &imap.StatusOptions{NumMessages: true, UIDNext: true, UIDValidity: true, HighestModSeq: s.caps.CondStore}
}

func stateOf(d *imap.StatusData) hsync.FolderState {
	st := hsync.FolderState{UIDValidity: d.UIDValidity, UIDNext: uint32(d.UIDNext), HighestModSeq: d.HighestModSeq}
	if d.NumMessages != nil {
		st.Messages = *d.NumMessages
	}
	return st
}

// refreshSelected makes the next STATUS of the selected folder current.
// Dovecot answers STATUS (and LIST-STATUS) about the folder a session
// has selected from that session's view, which moves only when the
// session syncs it: another client's new mail, flag change or expunge
// stays invisible (TestStatusOfTheSelectedFolderIsCurrent shows it);
// other folders are read fresh. So the session leaves the folder first
// with UNSELECT (never CLOSE: it expunges), or where the server lacks
// UNSELECT brings its view up to date with NOOP. Either is sent ahead of
// the STATUS commands without waiting for its answer, so it costs no
// round trip; its answer (and an error there, harmless) is read before
// theirs.
func (s *Session) refreshSelected() {
	if s.c.Mailbox() == nil {
		return
	}
	if s.c.Caps().Has(imap.CapUnselect) {
		s.c.Unselect()
	} else {
		s.c.Noop()
	}
}

// FolderStates implements sync.MailRemote: a STATUS per folder, all sent
// before the first answer is read.
func (s *Session) FolderStates(ctx context.Context, folders []string) (map[string]hsync.FolderState, error) {
	out := make(map[string]hsync.FolderState, len(folders))
	if len(folders) == 0 {
		return out, nil
	}
	err := s.guard(ctx, "imap status", func() error {
		s.refreshSelected()
		opts := s.statusOptions()
		cmds := make([]*imapclient.StatusCommand, len(folders))
		for i, f := range folders {
			cmds[i] = s.c.Status(f, opts)
		}
		var errs []error
		for i, cmd := range cmds {
			data, err := cmd.Wait()
			var ie *imap.Error
			switch {
			case err == nil:
				out[folders[i]] = stateOf(data)
			case errors.As(err, &ie) && ie.Type == imap.StatusResponseTypeNo:
				// The folder went away (or may not be read): the caller
				// selects it and learns which.
			default:
				errs = append(errs, err)
			}
		}
		return errors.Join(errs...)
	})
	return out, err
}
