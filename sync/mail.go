package sync

import (
	"context"
	"io"
	"time"
)

// MailCaps are the server capabilities the mail engine plans around.
type MailCaps struct {
	CondStore bool // CHANGEDSINCE flag sync, HIGHESTMODSEQ in STATUS
	Idle      bool
	Move      bool
	UIDPlus   bool
}

// RemoteFolder is a folder as the server lists it.
type RemoteFolder struct {
	Name       string // the decoded (UTF-8) name
	Delimiter  string // hierarchy delimiter, "" for a flat namespace
	SpecialUse string // \Sent, \Trash, \Drafts, \Archive, \Junk, \All, \Flagged; "" for none
	NoSelect   bool   // a container that holds no messages
	// State is the folder's status when the listing carried it
	// (LIST-STATUS, RFC 5819), current as of the listing; nil otherwise.
	State *FolderState
}

// FolderState is what STATUS or SELECT say about a folder.
type FolderState struct {
	UIDValidity   uint32
	UIDNext       uint32
	Messages      uint32
	HighestModSeq uint64 // 0 without CONDSTORE
}

// MessageMeta is a message's metadata, without its body.
type MessageMeta struct {
	UID          uint32
	Flags        []string
	ModSeq       uint64
	Size         int64
	InternalDate time.Time
	MessageID    string // without angle brackets; "" when missing
	Subject      string
	From         string // "Name <addr>", comma-separated when several
	To           string
	Cc           string
	Date         time.Time // the Date: header, zero when missing or bad
}

// FlagChange is a message's current flags after a change.
type FlagChange struct {
	UID    uint32
	Flags  []string
	ModSeq uint64
}

// MailRemote is one authenticated session with an account's IMAP server.
// It is not safe for concurrent use; the engine owns it. The folder
// methods after Select act on the selected folder.
type MailRemote interface {
	Caps() MailCaps
	ListFolders(ctx context.Context) ([]RemoteFolder, error)
	// FolderStates asks about several folders without selecting them, in
	// one round trip (the commands are pipelined). Every state is current,
	// including that of the folder the session has selected; a folder the
	// server would not describe is left out of the map.
	FolderStates(ctx context.Context, folders []string) (map[string]FolderState, error)
	Select(ctx context.Context, folder string) (FolderState, error)
	// FetchMeta streams the metadata of the listed messages; messages the
	// server no longer has are skipped.
	FetchMeta(ctx context.Context, uids []uint32, fn func(MessageMeta) error) error
	// FetchBodies streams the exact RFC 5322 bytes of each listed message.
	// body is valid only during fn and must be read to the end or left;
	// messages the server no longer has are skipped.
	FetchBodies(ctx context.Context, uids []uint32, fn func(uid uint32, size int64, body io.Reader) error) error
	// FlagsChangedSince returns the flags of messages whose MODSEQ is above
	// modseq (needs CondStore); modseq 0 returns every message's flags.
	FlagsChangedSince(ctx context.Context, modseq uint64, fn func(FlagChange) error) error
	// UIDs lists every UID in the selected folder.
	UIDs(ctx context.Context) ([]uint32, error)
	// UIDsFrom lists the UIDs from uid up (what arrived since a sync).
	UIDsFrom(ctx context.Context, uid uint32) ([]uint32, error)
	Close() error
}

// MailChangeLister is a MailRemote that can ask for a changed folder's
// news in one round trip: SELECT, then the UIDs from fromUID up (UID
// SEARCH) and the flags changed since changedSince (FETCH CHANGEDSINCE,
// with CONDSTORE), all three sent before the first answer arrives. The
// listing and the flags are for the folder as SELECT found it; when
// SELECT fails, so does the call.
type MailChangeLister interface {
	SelectChanges(ctx context.Context, folder string, fromUID uint32, changedSince uint64) (FolderState, []uint32, []FlagChange, error)
}

// MailDialer opens a MailRemote session for an account.
type MailDialer func(ctx context.Context) (MailRemote, error)

// MailIdler waits for server-side changes in one folder (IMAP IDLE) on a
// session of its own, calling changed once as soon as it watches (what
// arrived before is for a pass to catch up) and then for each burst of
// changes, until ctx ends or the connection fails. It returns nil, with ctx still live, when
// it ended the session on purpose because its sign-in runs out (see
// ExpiringSession): the caller dials a new one at once.
type MailIdler interface {
	Idle(ctx context.Context, folder string, changed func()) error
	Close() error
}

// ExpiringSession is implemented by sessions whose sign-in runs out (an
// OAuth2 access token; Microsoft 365 and Gmail end such a session when
// the token expires). Whoever keeps a session open between uses drops it
// once SignInEnding is true and dials a new one, so the server never
// ends it mid-command.
type ExpiringSession interface {
	SignInEnding() bool
}

// SignInEnding reports whether s is an ExpiringSession whose sign-in
// runs out now.
func SignInEnding(s any) bool {
	e, ok := s.(ExpiringSession)
	return ok && e.SignInEnding()
}

// MailIdleDialer opens a session for MailIdler.
type MailIdleDialer func(ctx context.Context) (MailIdler, error)

// MailNotifier hears about changes in every folder of an account on one
// session of its own (IMAP NOTIFY), until ctx ends or the connection
// fails. changed gets the name of a folder whose messages or flags
// changed, or "" when the folder list itself changed (a folder created,
// renamed or deleted, and once as soon as notifications are on: what
// changed before went unreported). It is called from the reading
// goroutine and must not block for long. Notify returns nil, before
// ctx ends, when the session's sign-in runs out (see ExpiringSession):
// the caller dials a new one at once.
type MailNotifier interface {
	Notify(ctx context.Context, changed func(folder string)) error
	Close() error
}

// MailNotifyDialer opens a session for MailNotifier. A server without
// NOTIFY makes it fail with a Permanent error.
type MailNotifyDialer func(ctx context.Context) (MailNotifier, error)

// MailWriter replays local mail changes on the server. The methods after
// Select act on the selected folder.
type MailWriter interface {
	Caps() MailCaps
	Select(ctx context.Context, folder string) (FolderState, error)
	// StoreFlags adds and removes flags as deltas (UID STORE +FLAGS/-FLAGS),
	// so a concurrent change on the server merges instead of being undone.
	StoreFlags(ctx context.Context, uid uint32, add, remove []string) error
	// Move moves a message to dest with UID MOVE, or COPY + STORE \Deleted
	// + UID EXPUNGE (never a bare EXPUNGE), and returns its UID in dest
	// (0 when the server did not say). found is false when the source UID
	// no longer exists.
	Move(ctx context.Context, uid uint32, dest string) (newUID uint32, found bool, err error)
	// Expunge removes one message (\Deleted + UID EXPUNGE).
	Expunge(ctx context.Context, uid uint32) error
	// SearchMessageID lists the UIDs with this Message-ID header.
	SearchMessageID(ctx context.Context, msgID string) ([]uint32, error)
	// Append stores a message in folder and returns its UID (0 when the
	// server did not say).
	Append(ctx context.Context, folder string, flags []string, date time.Time, size int64, r io.Reader) (uint32, error)
	Close() error
}

// MailWriterDialer opens a MailWriter session for an account.
type MailWriterDialer func(ctx context.Context) (MailWriter, error)
