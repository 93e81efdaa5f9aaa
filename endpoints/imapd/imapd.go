// Package imapd is holdover's local IMAP endpoint (listen.imap): mail
// apps log in with an account's mail.local credentials and read the
// mirror from the store, whether the provider answers or not. It speaks
// IMAP through github.com/emersion/go-imap/v2's imapserver; the store
// holds no protocol logic, and this package keeps no state of its own
// beyond a session's selected folder.
//
// Invariants:
//   - UIDs and UIDVALIDITY are holdover's own (store: LocalUID,
//     MailFolder.LocalUIDValidity/LocalUIDNext), never the provider's: a
//     remote UIDVALIDITY reset or a re-identification leaves them as they
//     are, so a client's cache stays valid.
//   - A selected folder is live (view.go): sequence numbers are the
//     client's view of the folder, ascending by local UID, and change
//     only the IMAP way. After every command (imapserver's Poll) and
//     while idling, the session reports what changed since it last
//     looked: EXISTS for new messages, FETCH (UID FLAGS) for flags
//     changed elsewhere, EXPUNGE for messages that left the folder
//     (expunged or moved on the server, moved or deleted locally by the
//     CLI, another session or the sync engine). No EXPUNGE is sent while
//     one is not allowed (during FETCH, STORE, SEARCH by sequence
//     number: RFC 9051 7.5.1): until then a message gone keeps its
//     sequence number, FETCH answers it from the view (and its body while
//     stored, else NO [EXPUNGEISSUED]), STORE and SEARCH pass it by.
//   - Looking costs what changed: the folder's change counters (store,
//     migration 0015) are one primary-key read, equal for an unchanged
//     folder whatever its size; a change reads only the rows changed
//     since, and the UID list only when a message left the folder. An
//     idling session is woken by any commit of this process
//     (store.DB.NextCommit: sync passes, local changes, other sessions)
//     and checks the counters every Options.IdleCheck for other
//     processes' writes (the CLI's). A local read that fails is logged
//     and retried at the next look; it never breaks the session.
//   - CONDSTORE and QRESYNC are not offered: go-imap v2.0.0-beta.8's
//     imapserver has none of their protocol (ENABLE accepts only
//     IMAP4rev2 and UTF8=ACCEPT, SELECT takes no parameters, FETCH and
//     STORE parse no CHANGEDSINCE/UNCHANGEDSINCE modifiers, the FETCH
//     writer has no MODSEQ item, SELECT writes no HIGHESTMODSEQ), and
//     adding it would mean forking the server's parser. The per-message
//     local_modseq of migration 0015 is the counter they would use.
//   - Every write is a local change through sync/outbox's local-change
//     API (Options.Flagger, and Writer when it implements it), exactly as
//     the CLI's: the change and its outbox row are committed in one
//     transaction before the client's OK, one message at a time (a
//     failure after some messages answers NO, and those before it stay
//     done and are reported). STORE (and the \Seen that a FETCH of
//     BODY[] implies) queues a flag delta; MOVE a move; EXPUNGE a delete
//     for good (IMAP semantics: no move to Trash, the mail app does that
//     itself first); APPEND and COPY a local-only message (body in the
//     store, a local UID at once, APPENDUID/COPYUID answered) and its
//     mail.append, whose replay binds the provider's copy to that same
//     row, so it is never shown twice nor downloaded, and its local UID
//     never changes. An APPEND over AppendLimit is refused with NO
//     [TOOBIG] from its announced size, before any of it is read; one
//     under it is streamed to the outbox's spool, never held in memory.
//     Without a Flagger, or on EXAMINE, folders are read-only (COPY from
//     them still works); without a Writer only STORE writes. CREATE,
//     DELETE and RENAME are refused with NO [CANNOT]: folders are the
//     provider's, the mirror follows its list.
//   - A session's own MOVE and EXPUNGE remove the messages from its view
//     as they answer (EXPUNGE responses, highest number first, so each is
//     valid when read), so its next look does not report them again.
//   - Bodies are streamed from the store (store.OpenMailBody), one chunk
//     in memory at a time, for BODY[] and RFC822; a section or a header
//     is read from the same stream, never from the provider. SEARCH BODY
//     and TEXT use the full-text index, never read bodies.
//   - The password may cross in plaintext only on a loopback listener;
//     on any other listener LOGIN needs STARTTLS (Options.TLSConfig), and
//     without TLS every login is refused (the SMTP endpoint's rule). A
//     wrong login is answered NO [AUTHENTICATIONFAILED] after
//     Options.FailDelay, so guessing is slow.
//   - Logs name the account and username; never a password, never a body.
package imapd

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/store"
)

// Options configure a Server.
type Options struct {
	DB   *store.DB
	Auth locallogin.Authenticator
	// Flagger, when set, makes STORE (and the \Seen a FETCH of BODY[]
	// sets) local changes through the outbox; nil keeps every folder
	// read-only. When it also implements Writer (outbox.Local does),
	// MOVE, COPY, EXPUNGE and APPEND are local changes too. NoChange is
	// the error it returns for a change that changes nothing
	// (outbox.ErrNoChange).
	Flagger  Flagger
	NoChange error
	// TLSConfig, when set, offers STARTTLS.
	TLSConfig *tls.Config
	// FailDelay is how long a wrong login waits before its NO (0: 1s).
	FailDelay time.Duration
	// IdleCheck is how often an idling session looks at its folder's
	// change counters for writes of other processes (0: 1s); this
	// process's own commits wake it at once.
	IdleCheck time.Duration
	// Log receives a warning per refused login and errors; nil discards.
	// The caller scopes it (endpoint, ...).
	Log *slog.Logger
}

func (s *Server) noChange() error {
	if s.opts.NoChange != nil {
		return s.opts.NoChange
	}
	return errNoChangeDefault
}

// Server is the IMAP endpoint. It serves one listener.
type Server struct {
	opts   Options
	log    *slog.Logger
	base   context.Context // of every store read; cancelled by Close
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	srv    *imapserver.Server
	ln     net.Listener
}

// New makes a Server; Serve starts it.
func New(opts Options) *Server {
	if opts.FailDelay <= 0 {
		opts.FailDelay = time.Second
	}
	if opts.IdleCheck <= 0 {
		opts.IdleCheck = time.Second
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: log}
	s.base, s.cancel = context.WithCancel(context.Background())
	return s
}

// caps are what this endpoint implements. IMAP4rev2 is not offered: it
// makes ESEARCH mandatory.
var caps = imap.CapSet{
	imap.CapIMAP4rev1:   {},
	imap.CapMove:        {},
	imap.CapUIDPlus:     {},
	imap.CapNamespace:   {},
	imap.CapSpecialUse:  {},
	imap.CapListStatus:  {},
	imap.CapLiteralPlus: {},
	imap.CapBinary:      {},
}

// Serve accepts connections on ln until Close (then it returns nil). It
// may be called once: whether plaintext LOGIN is allowed is decided from
// ln's address.
func (s *Server) Serve(ln net.Listener) error {
	loopback := locallogin.Loopback(ln.Addr())
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		ln.Close()
		return nil
	}
	if s.srv != nil {
		s.mu.Unlock()
		return errors.New("imapd: Serve called twice")
	}
	if !loopback && s.opts.TLSConfig == nil {
		s.log.Warn("the IMAP listener is not loopback and has no TLS: every login will be refused", "addr", ln.Addr().String())
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return &serialSession{ss: &session{s: s, remote: c.NetConn().RemoteAddr().String()}}, nil, nil
		},
		Caps:         caps,
		Logger:       slogPrinter{s.log},
		TLSConfig:    s.opts.TLSConfig,
		InsecureAuth: loopback,
	})
	s.srv, s.ln = srv, ln
	s.mu.Unlock()
	err := srv.Serve(ln)
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return err
}

// Close stops accepting, ends every session and cancels their reads.
// It may come before Serve, or while Serve starts.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	srv, ln := s.srv, s.ln
	s.mu.Unlock()
	s.cancel()
	if ln != nil {
		// Closed here too: imapserver knows the listener only once its
		// Serve has registered it.
		ln.Close()
	}
	if srv != nil {
		srv.Close()
	}
	return nil
}

// slogPrinter takes imapserver's internal error log.
type slogPrinter struct{ log *slog.Logger }

func (p slogPrinter) Printf(format string, v ...any) { p.log.Warn(fmt.Sprintf(format, v...)) }
