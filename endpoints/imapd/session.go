package imapd

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"

	"github.com/holdover/holdover/internal/locallogin"
	"github.com/holdover/holdover/store"
)

// session is one client connection. imapserver calls its methods one at
// a time, so it needs no lock.
type session struct {
	s       *Server
	remote  string
	account string    // "" until logged in
	sel     *selected // nil unless a folder is selected
	// loadFailing: the last look at the selected folder's changes
	// failed, and was logged.
	loadFailing bool
}

var (
	errNotYet = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeCannot,
		Text: "Not yet: over IMAP this holdover changes flags only; move, delete and file mail with `holdover mail` meanwhile"}
	errUnavailable = &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeUnavailable,
		Text: "Local storage unavailable, try again"}
)

func errNoFolder(name string) error {
	return &imap.Error{Type: imap.StatusResponseTypeNo, Code: imap.ResponseCodeNonExistent,
		Text: fmt.Sprintf("No folder %q", name)}
}

// local turns a store failure into a protocol answer and logs it once.
func (ss *session) local(what string, err error) error {
	ss.s.log.Error("IMAP endpoint: "+what, "account", ss.account, "err", err)
	return errUnavailable
}

func (ss *session) Close() error { return nil }

func (ss *session) Login(username, password string) error {
	account, err := ss.s.opts.Auth(ss.s.base, username, password)
	if errors.Is(err, locallogin.ErrBadCredentials) {
		ss.s.log.Warn("IMAP login refused", "username", username, "remote", ss.remote)
		select {
		case <-time.After(ss.s.opts.FailDelay):
		case <-ss.s.base.Done():
		}
		return imapserver.ErrAuthFailed
	}
	if err != nil {
		return ss.local("login", err)
	}
	ss.account = account
	return nil
}

// folders lists the account's mirrored folders.
func (ss *session) folders() ([]store.MailFolder, error) {
	fs, err := ss.s.opts.DB.MailFolders(ss.s.base, ss.account)
	if err != nil {
		return nil, ss.local("list folders", err)
	}
	return fs, nil
}

// folder finds a folder by its IMAP name (INBOX in any case).
func (ss *session) folder(name string) (store.MailFolder, error) {
	fs, err := ss.folders()
	if err != nil {
		return store.MailFolder{}, err
	}
	for _, f := range fs {
		if f.Name == name || strings.EqualFold(name, "INBOX") && strings.EqualFold(f.Name, "INBOX") {
			return f, nil
		}
	}
	return store.MailFolder{}, errNoFolder(name)
}

func delimOf(f store.MailFolder) rune {
	if f.Delimiter == "" {
		return '/'
	}
	return []rune(f.Delimiter)[0]
}

func (ss *session) Namespace() (*imap.NamespaceData, error) {
	delim := '/'
	if fs, err := ss.folders(); err == nil && len(fs) > 0 {
		delim = delimOf(fs[0])
	}
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Prefix: "", Delim: delim}}}, nil
}

func (ss *session) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	fs, err := ss.folders()
	if err != nil {
		return err
	}
	if len(patterns) == 0 { // LIST "" "": the hierarchy delimiter
		delim := '/'
		if len(fs) > 0 {
			delim = delimOf(fs[0])
		}
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: delim})
	}
	for _, f := range fs {
		delim := delimOf(f)
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(f.Name, delim, ref, p) {
				match = true
				break
			}
		}
		if !match || options.SelectSpecialUse && f.SpecialUse == "" {
			continue
		}
		data := imap.ListData{Mailbox: f.Name, Delim: delim}
		if hasChildren(fs, f) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasChildren)
		} else {
			data.Attrs = append(data.Attrs, imap.MailboxAttrHasNoChildren)
		}
		if f.SpecialUse != "" {
			data.Attrs = append(data.Attrs, imap.MailboxAttr(f.SpecialUse))
		}
		// Every mirrored folder counts as subscribed: the mirror is what
		// the person chose to keep.
		if options.SelectSubscribed || options.ReturnSubscribed {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		if options.ReturnStatus != nil {
			if data.Status, err = ss.status(f, options.ReturnStatus); err != nil {
				return err
			}
		}
		if err := w.WriteList(&data); err != nil {
			return err
		}
	}
	return nil
}

func hasChildren(fs []store.MailFolder, f store.MailFolder) bool {
	prefix := f.Name + string(delimOf(f))
	for _, o := range fs {
		if strings.HasPrefix(o.Name, prefix) {
			return true
		}
	}
	return false
}

func (ss *session) Status(mailbox string, options *imap.StatusOptions) (*imap.StatusData, error) {
	f, err := ss.folder(mailbox)
	if err != nil {
		return nil, err
	}
	return ss.status(f, options)
}

func (ss *session) status(f store.MailFolder, options *imap.StatusOptions) (*imap.StatusData, error) {
	n, unseen, err := ss.s.opts.DB.LocalMailCounts(ss.s.base, f.ID)
	if err != nil {
		return nil, ss.local("count messages", err)
	}
	data := imap.StatusData{Mailbox: f.Name}
	if options.NumMessages {
		data.NumMessages = &n
	}
	if options.NumUnseen {
		data.NumUnseen = &unseen
	}
	if options.NumRecent {
		zero := uint32(0)
		data.NumRecent = &zero
	}
	if options.UIDNext {
		data.UIDNext = imap.UID(f.LocalUIDNext)
	}
	if options.UIDValidity {
		data.UIDValidity = f.LocalUIDValidity
	}
	return &data, nil
}

func (ss *session) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	ss.sel = nil
	f, err := ss.folder(mailbox)
	if err != nil {
		return nil, err
	}
	sel, err := openView(ss.s.base, ss.s.opts.DB, f, options.ReadOnly || ss.s.opts.Flagger == nil)
	if err != nil {
		return nil, ss.local("read folder", err)
	}
	ss.sel = sel
	perm := []imap.Flag{} // read-only: nothing can be changed
	if !sel.readOnly {
		perm = permanentFlags
	}
	data := &imap.SelectData{
		Flags:          []imap.Flag{imap.FlagSeen, imap.FlagAnswered, imap.FlagFlagged, imap.FlagDeleted, imap.FlagDraft},
		PermanentFlags: perm,
		NumMessages:    uint32(len(sel.msgs)),
		UIDNext:        imap.UID(f.LocalUIDNext),
		UIDValidity:    f.LocalUIDValidity,
	}
	if last := sel.lastUID(); uint32(data.UIDNext) <= last {
		// The folder row was read before its messages: one that arrived
		// in between is in msgs, and UIDNEXT must be above it.
		data.UIDNext = imap.UID(last + 1)
	}
	for i, m := range sel.msgs {
		if !m.Seen() {
			data.FirstUnseenSeqNum = uint32(i) + 1
			break
		}
	}
	return data, nil
}

func (ss *session) Unselect() error {
	ss.sel = nil
	return nil
}

// Poll runs after every command that succeeded (imapserver), before its
// OK: what changed in the selected folder since the session last looked
// is reported, EXPUNGE only when allowExpunge. A store that cannot be
// read is logged and the updates wait for the next poll: a session is
// never broken for a local read.
func (ss *session) Poll(w *imapserver.UpdateWriter, allowExpunge bool) error {
	if ss.sel == nil {
		return nil
	}
	err := ss.sel.load(ss.s.base, ss.s.opts.DB)
	switch {
	case err == nil:
		ss.loadFailing = false
	case !ss.loadFailing && ss.s.base.Err() == nil:
		// Once per run of failures: an idling session looks every
		// IdleCheck, which must not fill the log.
		ss.loadFailing = true
		ss.s.log.Warn("IMAP endpoint: read folder changes", "account", ss.account, "folder", ss.sel.folder.Name, "err", err)
	}
	return ss.sel.report(w, allowExpunge) // what this load or an earlier one found
}

// idle reports changes as they come (IDLE): a commit of this process (a sync
// pass, a local change, another session: store.DB.NextCommit) wakes it at
// once, and a check of the folder's counters every Options.IdleCheck
// catches other processes' writes (the CLI's). Either costs one
// primary-key read while the folder is unchanged.
//
// It holds the session's lock (serialSession) mu for each look only, and
// looks only while IDLE lasts (stop checked under mu), so a command after
// IDLE never runs beside it.
func (ss *session) idle(w *imapserver.UpdateWriter, stop <-chan struct{}, mu *sync.Mutex) error {
	tick := time.NewTicker(ss.s.opts.IdleCheck)
	defer tick.Stop()
	look := func() (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		select {
		case <-stop:
			return false, nil
		default:
		}
		return true, ss.Poll(w, true)
	}
	for {
		next := ss.s.opts.DB.NextCommit() // before the read: no commit falls between
		if more, err := look(); !more || err != nil {
			return err
		}
		select {
		case <-stop:
			return nil
		case <-ss.s.base.Done():
			return nil
		case <-next:
		case <-tick.C:
		}
	}
}

func (ss *session) Subscribe(mailbox string) error {
	_, err := ss.folder(mailbox)
	return err
}

func (ss *session) Unsubscribe(mailbox string) error { return errNotYet }
