package imapd

import (
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// serialSession is what imapserver gets: every call into the session
// holds its lock, so the session's state (the selected view above all)
// is only ever touched by one goroutine at a time.
//
// Why a lock when imapserver calls a session one command at a time:
// IDLE runs Session.Idle in a goroutine of its own, and when the client
// ends IDLE with anything but DONE (or the connection fails), go-imap
// v2.0.0-beta.8's handleIdle returns without waiting for that goroutine,
// so the next command may run while Idle is still in a Poll (the race
// detector caught it under the fuzz seeds). Idle takes the lock for
// each look and checks stop under it, so once IDLE has ended it never
// touches the session again.
type serialSession struct {
	mu sync.Mutex
	ss *session
}

var (
	_ imapserver.SessionIMAP4rev2   = (*serialSession)(nil)
	_ imapserver.SessionAppendLimit = (*serialSession)(nil)
)

func (l *serialSession) lock() func() {
	l.mu.Lock()
	return l.mu.Unlock
}

func (l *serialSession) Close() error { defer l.lock()(); return l.ss.Close() }
func (l *serialSession) Login(username, password string) error {
	defer l.lock()()
	return l.ss.Login(username, password)
}
func (l *serialSession) Namespace() (*imap.NamespaceData, error) {
	defer l.lock()()
	return l.ss.Namespace()
}
func (l *serialSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	defer l.lock()()
	return l.ss.Select(mailbox, options)
}
func (l *serialSession) Create(mailbox string, options *imap.CreateOptions) error {
	defer l.lock()()
	return l.ss.Create(mailbox, options)
}
func (l *serialSession) Delete(mailbox string) error { defer l.lock()(); return l.ss.Delete(mailbox) }
func (l *serialSession) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	defer l.lock()()
	return l.ss.Rename(mailbox, newName, options)
}
func (l *serialSession) Subscribe(mailbox string) error {
	defer l.lock()()
	return l.ss.Subscribe(mailbox)
}
func (l *serialSession) Unsubscribe(mailbox string) error {
	defer l.lock()()
	return l.ss.Unsubscribe(mailbox)
}
func (l *serialSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	defer l.lock()()
	return l.ss.List(w, ref, patterns, options)
}
func (l *serialSession) Status(mailbox string, options *imap.StatusOptions) (*imap.StatusData, error) {
	defer l.lock()()
	return l.ss.Status(mailbox, options)
}

// AppendLimit implements imapserver.SessionAppendLimit: imapserver
// answers NO [TOOBIG] from the literal's announced size.
func (l *serialSession) AppendLimit() uint32 { return AppendLimit }
func (l *serialSession) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	defer l.lock()()
	return l.ss.Append(mailbox, r, options)
}
func (l *serialSession) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	defer l.lock()()
	return l.ss.Poll(w, allowExpunge)
}

// Idle takes the lock per look, not for the whole wait (see the type).
func (l *serialSession) Idle(w *imapserver.UpdateWriter, stop <-chan struct{}) error {
	return l.ss.idle(w, stop, &l.mu)
}
func (l *serialSession) Unselect() error { defer l.lock()(); return l.ss.Unselect() }
func (l *serialSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	defer l.lock()()
	return l.ss.Expunge(w, uids)
}
func (l *serialSession) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	defer l.lock()()
	return l.ss.Search(kind, criteria, options)
}
func (l *serialSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	defer l.lock()()
	return l.ss.Fetch(w, numSet, options)
}
func (l *serialSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	defer l.lock()()
	return l.ss.Store(w, numSet, flags, options)
}
func (l *serialSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	defer l.lock()()
	return l.ss.Copy(numSet, dest)
}
func (l *serialSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	defer l.lock()()
	return l.ss.Move(w, numSet, dest)
}
