package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/holdover/holdover/internal/testenv"
	"github.com/holdover/holdover/store"
)

// The operations of the randomized model test (model_e2e_test.go) and the
// views of the server and of the mirror it compares.

// mailCopy is one copy of a message in a folder, on the server or in the
// mirror.
type mailCopy struct {
	Folder string
	UID    uint32
	Flags  string // system flags only, sorted, space-separated
}

func (c mailCopy) String() string { return fmt.Sprintf("%s uid %d [%s]", c.Folder, c.UID, c.Flags) }

// mailView maps a Message-ID to its copies.
type mailView map[string][]mailCopy

// systemFlags are the flags compared; \Recent is the server's business.
var systemFlags = map[string]string{`\seen`: `\Seen`, `\flagged`: `\Flagged`, `\answered`: `\Answered`, `\draft`: `\Draft`, `\deleted`: `\Deleted`}

func normFlags[F ~string](fs []F) string {
	var out []string
	for _, f := range fs {
		if s, ok := systemFlags[strings.ToLower(string(f))]; ok {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return strings.Join(slices.Compact(out), " ")
}

// serverView reads every message of folders through c.
func serverView(c *imapclient.Client, folders []string) (mailView, error) {
	v := mailView{}
	for _, f := range folders {
		if _, err := c.Select(f, &imap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
			return nil, fmt.Errorf("examine %s: %w", f, err)
		}
		var all imap.UIDSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &imap.FetchOptions{UID: true, Flags: true, Envelope: true}).Collect()
		if err != nil {
			return nil, fmt.Errorf("fetch %s: %w", f, err)
		}
		for _, m := range msgs {
			id := ""
			if m.Envelope != nil {
				id = m.Envelope.MessageID
			}
			v[id] = append(v[id], mailCopy{Folder: f, UID: uint32(m.UID), Flags: normFlags(m.Flags)})
		}
	}
	return v, nil
}

// serverFolders lists the server's mailboxes.
func serverFolders(c *imapclient.Client) ([]string, error) {
	list, err := c.List("", "*", nil).Collect()
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range list {
		if !slices.Contains(l.Attrs, imap.MailboxAttrNoSelect) {
			out = append(out, l.Mailbox)
		}
	}
	slices.Sort(out)
	return out, nil
}

// mirrorView reads the account's messages from the store (deleted ones,
// whose deletion is still queued, are left out as the user sees them).
func mirrorView(db *store.DB) (mailView, []store.MailMessage, error) {
	msgs, err := db.ListMailMessages(context.Background(), store.MailFilter{Account: "work"})
	if err != nil {
		return nil, nil, err
	}
	v := mailView{}
	for _, m := range msgs {
		v[m.MessageID] = append(v[m.MessageID], mailCopy{Folder: m.Folder, UID: m.UID, Flags: normFlags(m.Flags)})
	}
	return v, msgs, nil
}

// byFolder regroups a view as folder → Message-ID → copies.
func (v mailView) byFolder() map[string]map[string][]mailCopy {
	out := map[string]map[string][]mailCopy{}
	for id, cs := range v {
		for _, c := range cs {
			if out[c.Folder] == nil {
				out[c.Folder] = map[string][]mailCopy{}
			}
			out[c.Folder][id] = append(out[c.Folder][id], c)
		}
	}
	return out
}

// diffViews lists every difference between the server and the mirror:
// per folder the Message-IDs, their number of copies and their flags.
func diffViews(server, mirror mailView) []string {
	s, m := server.byFolder(), mirror.byFolder()
	folders := map[string]bool{}
	for f := range s {
		folders[f] = true
	}
	for f := range m {
		folders[f] = true
	}
	var out []string
	for _, f := range sortedKeys(folders) {
		ids := map[string]bool{}
		for id := range s[f] {
			ids[id] = true
		}
		for id := range m[f] {
			ids[id] = true
		}
		for _, id := range sortedKeys(ids) {
			sc, mc := s[f][id], m[f][id]
			sf, mf := copyFlags(sc), copyFlags(mc)
			switch {
			case len(sc) == 0:
				out = append(out, fmt.Sprintf("(2) %s <%s>: not on the server, but in the mirror: %v", f, id, mc))
			case len(mc) == 0:
				out = append(out, fmt.Sprintf("(2) %s <%s>: on the server %v, missing from the mirror", f, id, sc))
			case len(sc) != len(mc) || !slices.Equal(sf, mf):
				out = append(out, fmt.Sprintf("(2) %s <%s>: server %v, mirror %v", f, id, sc, mc))
			}
		}
	}
	return out
}

func copyFlags(cs []mailCopy) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Flags)
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// The random flag choices: the user flips \Seen and \Flagged, the other
// client also \Answered.
var (
	localFlags = []string{"seen", "flagged"}
	otherFlags = []imap.Flag{imap.FlagSeen, imap.FlagFlagged, imap.FlagAnswered}
	flagOf     = map[string]string{"seen": `\Seen`, "flagged": `\Flagged`}
	actionRe   = regexp.MustCompile(`outbox action (\d+)`)
)

// localOp changes a message of the mirror through the CLI: kind is flag,
// move or delete.
func (r *modelRun) localOp(kind string) {
	// Draw every random choice first, so the choices do not depend on
	// what the mirror happens to hold.
	i := r.rng.IntN(len(r.live))
	flag, add := localFlags[r.rng.IntN(len(localFlags))], r.rng.IntN(2) == 0
	_, msgs, err := mirrorView(r.db)
	if err != nil {
		r.t.Fatal(err)
	}
	var m store.MailMessage
	var id string
	for k := 0; k < len(r.live) && id == ""; k++ {
		cand := r.live[(i+k)%len(r.live)]
		for _, mm := range msgs {
			if mm.MessageID == cand && (mm.Folder == "INBOX" || mm.Folder == "Archive") {
				m, id = mm, cand
				break
			}
		}
	}
	if id == "" {
		r.logf("local %s: no live message in the mirror's INBOX or Archive, skipped", kind)
		return
	}
	stale, src := r.staleness(m)
	var args []string
	var c change
	switch kind {
	case "flag":
		sign := "-"
		if add {
			sign = "+"
		}
		args = []string{"mail", "flag", strconv.FormatInt(m.ID, 10), sign + flag}
		c = change{kind: "flag", flag: flagOf[flag], add: add}
	case "move":
		dest := "Archive"
		if m.Folder == "Archive" {
			dest = "INBOX"
		}
		args = []string{"mail", "move", strconv.FormatInt(m.ID, 10), dest}
		c = change{kind: "move", dest: dest}
	case "delete":
		args = []string{"mail", "delete", strconv.FormatInt(m.ID, 10)}
		c = change{kind: "delete", dest: r.srv.trash}
	}
	code, out, stderr := r.cli(args...)
	if code != 0 {
		if strings.Contains(stderr, "not found") {
			// The daemon removed the row between the read and the command.
			r.logf("local %s <%s> (row %d in %s): the row vanished meanwhile (%s), skipped", kind, id, m.ID, m.Folder, strings.TrimSpace(stderr))
			return
		}
		r.t.Fatalf("seed %d: %v: exit %d\n%s%s", r.seed, args, code, out, stderr)
	}
	action := ""
	if mm := actionRe.FindStringSubmatch(out); mm != nil {
		action = " → action " + mm[1]
	}
	c.seq, c.src = r.seq, src
	r.changes[id] = append(r.changes[id], c)
	r.rowMsg[m.ID] = id
	desc := strings.Join(args[1:], " ")
	if stale != "" {
		r.taint(id, "local "+desc+" was made on a stale mirror: "+stale)
		desc += " [stale: " + stale + "]"
	}
	if kind == "delete" {
		r.dropLive(id)
		if r.srv.trash == "" {
			r.mayBeGone[id] = true
		}
	}
	r.logf("local %s <%s> (row %d, %s)%s", desc, id, m.ID, m.Folder, action)
}

// staleness says how the mirror's idea of where the server has m differs
// from the server ("" when it does not): a local change then races a
// change by the other client that the daemon had not seen yet.
// It also returns that place, "folder/uid".
func (r *modelRun) staleness(m store.MailMessage) (stale, src string) {
	f, err := r.db.MailFolderByID(context.Background(), m.RemoteFolderID)
	if err != nil {
		return fmt.Sprintf("its remote folder %d: %v", m.RemoteFolderID, err), ""
	}
	src = fmt.Sprintf("%s/%d", f.Name, m.RemoteUID)
	v := r.serverNow()
	for _, c := range v[m.MessageID] {
		if c.Folder == f.Name && c.UID == m.RemoteUID {
			return "", src
		}
	}
	return fmt.Sprintf("mirror says %s uid %d, server has %v", f.Name, m.RemoteUID, v[m.MessageID]), src
}

// serverNow is the server's INBOX, Archive and Trash as the other client
// sees them.
func (r *modelRun) serverNow() mailView {
	folders := []string{"INBOX", "Archive"}
	if r.srv.trash != "" {
		folders = append(folders, r.srv.trash)
	}
	v, err := serverView(r.other, folders)
	if err != nil {
		r.t.Fatalf("seed %d: other client: %v", r.seed, err)
	}
	return v
}

// otherOp is a change by another mail client, straight on the server:
// kind is flag, move, append or expunge.
func (r *modelRun) otherOp(kind string) {
	c := r.other
	if kind == "append" {
		r.next++
		id := fmt.Sprintf("m%d-%d@model.example", r.seed, r.next)
		folder := []string{"INBOX", "Archive"}[r.rng.IntN(2)]
		var flags []imap.Flag
		for _, f := range otherFlags {
			if r.rng.IntN(3) == 0 {
				flags = append(flags, f)
			}
		}
		uid := testenv.Append(r.t, c, folder, modelMessage(id, r.next), time.Time{}, flags...)
		r.live = append(r.live, id)
		r.created = append(r.created, id)
		r.lastOther[id] = r.seq
		r.logf("other append <%s> to %s uid %d %v", id, folder, uid, flags)
		return
	}
	i := r.rng.IntN(len(r.live))
	flag, add := otherFlags[r.rng.IntN(len(otherFlags))], r.rng.IntN(2) == 0
	id := r.live[i]
	v := r.serverNow()
	var at []mailCopy
	for _, cp := range v[id] {
		if cp.Folder == "INBOX" || cp.Folder == "Archive" {
			at = append(at, cp)
		}
	}
	if len(at) != 1 {
		r.logf("other %s <%s>: %d copies in INBOX/Archive %v, skipped", kind, id, len(at), v[id])
		return
	}
	src := at[0]
	r.lastOther[id] = r.seq
	if kind != "flag" {
		// The user moved or deleted this very copy and the replay may be
		// under way: two sessions moving one message at once can leave
		// two copies on Dovecot (it copies, then expunges), and a move
		// racing an expunge can leave the moved copy.
		for _, c := range r.changes[id] {
			if c.kind != "flag" && c.src == fmt.Sprintf("%s/%d", src.Folder, src.UID) {
				r.raced[id] = fmt.Sprintf("op #%d (other %s) and op #%d (local %s) both acted on %s uid %d", r.seq, kind, c.seq, c.kind, src.Folder, src.UID)
			}
		}
	}
	if _, err := c.Select(src.Folder, nil).Wait(); err != nil {
		r.t.Fatalf("seed %d: select %s: %v", r.seed, src.Folder, err)
	}
	set := imap.UIDSetNum(imap.UID(src.UID))
	var err error
	switch kind {
	case "flag":
		op := imap.StoreFlagsDel
		if add {
			op = imap.StoreFlagsAdd
		}
		err = c.Store(set, &imap.StoreFlags{Op: op, Silent: true, Flags: []imap.Flag{flag}}, nil).Close()
		sign := map[bool]string{true: "+", false: "-"}[add]
		r.logf("other flag <%s> %s%s (%s)", id, sign, flag, src)
	case "move":
		dest := "Archive"
		if src.Folder == "Archive" {
			dest = "INBOX"
		}
		var data *imapclient.MoveData
		data, err = c.Move(set, dest).Wait()
		note := ""
		if err == nil && (data == nil || data.DestUIDs == nil) {
			note = " [raced: no COPYUID, it had moved]"
		} else if err == nil {
			note = fmt.Sprintf(" → uid %v", data.DestUIDs)
		}
		r.logf("other move <%s> %s → %s%s", id, src, dest, note)
	case "expunge":
		if err = c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{imap.FlagDeleted}}, nil).Close(); err != nil {
			break
		}
		var seqs []uint32
		seqs, err = c.UIDExpunge(set).Collect()
		if err == nil && len(seqs) == 0 {
			r.logf("other expunge <%s> (%s) [raced: nothing expunged]", id, src)
			break
		}
		r.gone[id] = true
		r.dropLive(id)
		r.logf("other expunge <%s> (%s)", id, src)
	}
	if err != nil {
		r.t.Fatalf("seed %d: other %s <%s>: %v", r.seed, kind, id, err)
	}
}

// outage makes the provider unreachable for the daemon for a while.
func (r *modelRun) outage() {
	if r.down {
		r.logf("outage: already down")
		return
	}
	d := time.Duration(200+r.rng.IntN(1800)) * time.Millisecond
	r.proxy.Down()
	r.down, r.upAt = true, time.Now().Add(d)
	r.logf("outage starts, for %s", d)
}

// kill9 kills the daemon; it restarts after a short while.
func (r *modelRun) kill9() {
	d := time.Duration(r.rng.IntN(800)) * time.Millisecond
	if r.daemon == nil {
		r.logf("kill -9: no daemon running")
		return
	}
	r.daemon.cmd.Process.Signal(syscall.SIGKILL)
	<-r.daemon.done
	r.daemonLogs.WriteString(r.daemon.log())
	r.daemon, r.restartAt = nil, time.Now().Add(d)
	r.logf("kill -9 of the daemon; restart in %s", d)
}

// tick ends an outage and restarts the daemon when their time has come.
func (r *modelRun) tick(force bool) {
	if r.down && (force || time.Now().After(r.upAt)) {
		r.proxy.Up()
		r.down = false
		r.logf("outage ends")
	}
	if r.daemon == nil && (force || time.Now().After(r.restartAt)) {
		r.daemon = startDaemon(r.t, r.env, "--config", r.cfg)
		r.logf("daemon started")
	}
}

func (r *modelRun) dropLive(id string) {
	r.live = slices.DeleteFunc(r.live, func(x string) bool { return x == id })
}

func (r *modelRun) taint(id, why string) {
	if _, ok := r.tainted[id]; !ok {
		r.tainted[id] = why
	}
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// blockedBy returns the id of an earlier action on the same target in
// conflict, which keeps row from running, or 0.
func blockedBy(rows []outboxJSON, row outboxJSON) int64 {
	for _, o := range rows {
		if o.ID < row.ID && o.TargetKey == row.TargetKey && o.State == "conflict" {
			return o.ID
		}
	}
	return 0
}

func rowOf(targetKey string) int64 {
	n, _ := strconv.ParseInt(strings.TrimPrefix(targetKey, "mail:"), 10, 64)
	return n
}

func modelMessage(id string, n int) []byte {
	return []byte(fmt.Sprintf("From: other@example.com\r\nTo: me@example.com\r\nSubject: model %d\r\nMessage-ID: <%s>\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n\r\nbody %d\r\n", n, id, n))
}

// modelServer is the real server of one variant.
type modelServer struct {
	addr     string
	user, pw string
	trash    string // "" when the server has no Trash folder
	client   func(t *testing.T) *imapclient.Client
}

var modelVariants = []struct {
	name  string
	start func(t *testing.T) modelServer
}{
	{"dovecot", func(t *testing.T) modelServer {
		d := testenv.StartDovecot(t)
		c := d.Client(t)
		// testenv's Dovecot creates Archive and Trash at first login; make
		// sure of it rather than rely on it.
		folders, err := serverFolders(c)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"Archive", "Trash"} {
			if !slices.Contains(folders, f) {
				if err := c.Create(f, nil).Wait(); err != nil {
					t.Fatalf("create %s: %v", f, err)
				}
			}
		}
		return modelServer{addr: d.Addr(), user: d.User, pw: d.Password, trash: "Trash",
			client: func(t *testing.T) *imapclient.Client { return d.Client(t) }}
	}},
	{"mem", func(t *testing.T) modelServer {
		// IMAP4rev1 brings IDLE; MOVE and UIDPLUS are what the replay of
		// moves and of deletes without Trash needs. No CONDSTORE, so no
		// QRESYNC either. Not testenv.StartIMAPMem: see startModelMem.
		addr := startModelMem(t, imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}})
		return modelServer{addr: addr, user: "me", pw: "pw", client: func(t *testing.T) *imapclient.Client {
			c, err := imapclient.DialInsecure(addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			if err := c.Login("me", "pw").Wait(); err != nil {
				t.Fatal(err)
			}
			return c
		}}
	}},
}

// startModelMem is testenv.StartIMAPMem with one fix: go-imap's memory
// server answers a MOVE whose UIDs are all gone (another client moved or
// expunged them) with an empty COPYUID that its own client — holdover's
// connector — cannot parse ("bad number set"), so the replay would fail
// as transient for ever. Dovecot answers a plain OK, which is what
// memMove does. Nothing else differs.
func startModelMem(t *testing.T, caps imap.CapSet) string {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("me", "pw")
	for _, name := range []string{"INBOX", "Archive"} {
		if err := u.Create(name, nil); err != nil {
			t.Fatal(err)
		}
	}
	mem.AddUser(u)
	s := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return memMove{mem.NewSession()}, nil, nil
		},
		Caps:         caps,
		InsecureAuth: true,
		Logger:       quiet{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { s.Serve(ln); close(done) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

type memMove struct{ imapserver.Session }

func (s memMove) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if uids, ok := numSet.(imap.UIDSet); ok { // a sequence set always matches
		found, err := s.Session.Search(imapserver.NumKindUID, &imap.SearchCriteria{UID: []imap.UIDSet{uids}}, &imap.SearchOptions{})
		if err != nil {
			return err
		}
		if len(found.AllUIDs()) == 0 {
			return nil
		}
	}
	return s.Session.(imapserver.SessionMove).Move(w, numSet, dest)
}
