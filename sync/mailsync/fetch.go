package mailsync

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	gosync "sync"

	"golang.org/x/sync/errgroup"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// A download is one folder's list of new messages, fetched in chunks of
// BatchMessages UIDs. With more than one chunk it runs on several
// sessions at once (lanes, see lanes.go): each lane fetches a chunk's
// metadata and bodies, hashes them and extracts their text into a spool
// file, then hands the chunk's batches to one committer and goes on to
// another chunk. So the network, MIME decoding and hashing run beside
// the writer, which is the one thing that cannot run in parallel and
// most of the work (bench/mail.sh -pprof).
//
// The engine's invariants hold with lanes:
//   - claim, in chunk order: after a chunk's metadata is read, it looks
//     its messages up among stored bodies and in the download's claims
//     (Message-ID and size), and claims the rest. A message claimed by an
//     earlier chunk is not downloaded again: it takes that chunk's body
//     when it commits. In chunk order, so the earlier chunk is always the
//     owner, and a body is downloaded at most once even when two lanes
//     meet copies.
//   - commit, in chunk order: the committer takes chunk i's batches only
//     after every earlier chunk's, so the folder's resume point
//     (synced_uid) only ever covers committed messages, as with one
//     session. An error stops the download; what is committed stays.
//   - flat memory: lanes stay at most a window (lanes+1) of chunks ahead
//     of the commits, a prepared batch waits on disk (its bodies and
//     their text in its spool file), and a lane hands over one batch at a
//     time.
type download struct {
	e        *Engine
	f        store.MailFolder
	validity uint32 // UIDVALIDITY of the listing the UIDs come from
	chunks   [][]uint32

	claimed   []chan struct{}    // closed when chunk i has claimed its messages
	committed []chan struct{}    // closed when chunk i is committed
	subs      []chan preparedSub // chunk i's prepared batches, closed when all are sent
	window    int                // how many chunks lanes may be ahead of the commits
	// aborted is closed when a lane fails: the others stop at their next
	// turn. It is not a context cancellation on purpose: cancelling
	// closes a session in the middle of a FETCH, and go-imap's client
	// (v2 beta.8) then races between its reader and the caller draining
	// the literal. A lane finishes the command it is in (one batch at
	// most) instead.
	aborted   chan struct{}
	abortOnce gosync.Once

	claims map[bodyKey]*claim // used in claim order only
	mu     gosync.Mutex       // guards st and prog
	st     *Stats
	prog   Progress
}

type bodyKey struct {
	msgID string
	size  int64
}

// claim is a body one chunk downloads for the download's copies of a
// message; bodyID is set when that chunk commits it.
type claim struct{ bodyID int64 }

// pending is a new message of a batch: its metadata and where its body
// is, either already stored (reuse), owned by an earlier chunk (ref), or
// spooled in the batch file.
type pending struct {
	meta   hsync.MessageMeta
	bodyID int64  // reused body, or 0
	ref    *claim // the body another message of this download brings
	own    *claim // the body this message brings, for later copies
	off    int64  // spooled body at [off, off+size)
	size   int64
	sum    []byte // SHA-256 of the spooled body
	// The text extracted for the index waits in the spool too, at
	// [textOff, textOff+textLen): batches wait for the writer, and memory
	// must not grow with what waits.
	textOff, textLen int64
	stored           int64 // the body's id once committed
	have             bool  // a body is available (reused or spooled)
}

// fetchNew downloads the listed messages in ascending UID order, in
// batches, each committed in one transaction with the folder's resume
// point. validity is the folder's UIDVALIDITY the UIDs belong to: a lane
// that finds another one stops the download.
func (e *Engine) fetchNew(ctx context.Context, r hsync.MailRemote, f store.MailFolder, validity uint32, uids []uint32, st *Stats) error {
	if len(uids) == 0 {
		return nil
	}
	d := &download{
		e: e, f: f, validity: validity,
		chunks: slices.Collect(slices.Chunk(uids, e.opts.BatchMessages)),
		claims: map[bodyKey]*claim{},
		st:     st,
		prog:   Progress{Account: e.opts.Account, Folder: f.Name, Total: len(uids)},
	}
	d.aborted = make(chan struct{})
	d.claimed = make([]chan struct{}, len(d.chunks))
	d.committed = make([]chan struct{}, len(d.chunks))
	for i := range d.chunks {
		d.claimed[i] = make(chan struct{})
		d.committed[i] = make(chan struct{})
	}
	lanes := min(e.opts.Connections, len(d.chunks))
	d.window = lanes + 1
	d.subs = make([]chan preparedSub, len(d.chunks))
	for i := range d.subs {
		d.subs[i] = make(chan preparedSub, 1)
	}
	var next int
	var nextMu gosync.Mutex
	take := func() (int, bool) {
		nextMu.Lock()
		defer nextMu.Unlock()
		if next >= len(d.chunks) || d.stopped() {
			return 0, false
		}
		next++
		return next - 1, true
	}
	var g errgroup.Group
	g.Go(func() error {
		err := d.commitAll(ctx)
		if err != nil {
			d.abort()
		}
		return err
	})
	for lane := range lanes {
		g.Go(func() error {
			sess := r
			if lane > 0 {
				s, ok := e.laneFor(ctx, f.Name, validity)
				if !ok {
					return nil // the other lanes take its chunks
				}
				sess = s
			}
			for {
				i, ok := take()
				if !ok {
					break
				}
				if err := d.chunk(ctx, sess, i); err != nil {
					d.abort()
					if lane > 0 {
						e.dropLane(sess)
					}
					if errors.Is(err, errAborted) {
						return nil // another lane's error is the one to report
					}
					return err
				}
			}
			if lane > 0 {
				e.releaseLane(sess)
			}
			return nil
		})
	}
	err := g.Wait()
	d.discardUncommitted()
	return err
}

// preparedSub is a batch of one chunk, spooled and prepared, waiting for
// the committer.
type preparedSub struct {
	batch []*pending
	spool spoolFile
}

// chunk fetches and prepares chunk i on session r and hands its batches
// to the committer, one at a time: the lane goes on to another chunk
// while the store commits this one.
func (d *download) chunk(ctx context.Context, r hsync.MailRemote, i int) error {
	e := d.e
	// Stay at most window chunks ahead of the commits: what waits for
	// the writer is bounded (on disk, a batch each).
	if i >= d.window {
		if err := d.wait(ctx, d.committed[i-d.window]); err != nil {
			return err
		}
	}
	var metas []hsync.MessageMeta
	if err := r.FetchMeta(ctx, d.chunks[i], func(m hsync.MessageMeta) error { metas = append(metas, m); return nil }); err != nil {
		return err
	}
	if i > 0 {
		if err := d.wait(ctx, d.claimed[i-1]); err != nil {
			return err
		}
	}
	batch, err := d.claim(ctx, metas)
	close(d.claimed[i])
	if err != nil {
		return err
	}
	// Split further so one batch spools at most BatchBytes.
	for len(batch) > 0 {
		n, size := 0, int64(0)
		for n < len(batch) && (n == 0 || batch[n].have || batch[n].ref != nil || size+batch[n].meta.Size <= e.opts.BatchBytes) {
			if !batch[n].have && batch[n].ref == nil {
				size += batch[n].meta.Size
			}
			n++
		}
		sub := batch[:n]
		batch = batch[n:]
		spool, err := d.spool(ctx, r, sub)
		if err != nil {
			return err
		}
		select {
		case d.subs[i] <- preparedSub{sub, spool}:
		case <-d.aborted:
			spool.discard()
			return errAborted
		case <-ctx.Done():
			spool.discard()
			return ctx.Err()
		}
	}
	// Closed only when every batch is handed over: a chunk that failed
	// part-way must not look complete to the committer, which would go
	// on to the next chunk and move the resume point past a gap.
	close(d.subs[i])
	return nil
}

// commitAll commits the chunks' batches in chunk order, as they come.
func (d *download) commitAll(ctx context.Context) error {
	for i := range d.chunks {
		for {
			var sub preparedSub
			var ok bool
			select {
			case sub, ok = <-d.subs[i]:
			case <-d.aborted:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
			if !ok {
				break
			}
			err := d.commit(ctx, sub.batch, sub.spool)
			sub.spool.discard()
			if err != nil {
				return err
			}
		}
		close(d.committed[i])
	}
	return nil
}

// discardUncommitted removes the spools of batches left behind by an
// aborted download.
func (d *download) discardUncommitted() {
	for _, ch := range d.subs {
	drain:
		for {
			select {
			case sub, ok := <-ch:
				if !ok {
					break drain
				}
				sub.spool.discard()
			default:
				break drain
			}
		}
	}
}

func (d *download) abort() { d.abortOnce.Do(func() { close(d.aborted) }) }

// errAborted stops a lane after another one failed.
var errAborted = errors.New("download aborted")

func (d *download) stopped() bool {
	select {
	case <-d.aborted:
		return true
	default:
		return false
	}
}

// wait waits until ch is closed, or the download is aborted.
func (d *download) wait(ctx context.Context, ch chan struct{}) error {
	if d.stopped() {
		return errAborted
	}
	select {
	case <-ch:
		return nil
	case <-d.aborted:
		return errAborted
	case <-ctx.Done():
		return ctx.Err()
	}
}

// claim decides, in chunk order, where each message's body comes from.
// The turnstile orders the calls, so claims needs no lock.
func (d *download) claim(ctx context.Context, metas []hsync.MessageMeta) ([]*pending, error) {
	e := d.e
	batch := make([]*pending, len(metas))
	reused, todo := 0, int64(0)
	for i, m := range metas {
		p := &pending{meta: m}
		batch[i] = p
		id, ok, err := e.opts.DB.FindMailBody(ctx, e.opts.Account, m.MessageID, m.Size)
		if err != nil {
			return nil, err
		}
		if ok {
			p.bodyID, p.have = id, true
			reused++
			continue
		}
		if m.MessageID != "" {
			k := bodyKey{m.MessageID, m.Size}
			if c := d.claims[k]; c != nil {
				p.ref = c
				continue
			}
			p.own = &claim{}
			d.claims[k] = p.own
		}
		todo += m.Size
	}
	d.mu.Lock()
	d.st.Reused += reused
	d.prog.BytesTodo += todo
	d.mu.Unlock()
	return batch, nil
}

// spoolFile holds one batch's bodies between download and commit.
type spoolFile struct{ *os.File }

func (s spoolFile) discard() {
	s.Close()
	os.Remove(s.Name())
}

// spool downloads the bodies of a batch the store lacks into a temp file,
// and hashes and extracts their text there, outside any transaction.
func (d *download) spool(ctx context.Context, r hsync.MailRemote, batch []*pending) (spoolFile, error) {
	e := d.e
	byUID := map[uint32]*pending{}
	var need []uint32
	for _, p := range batch {
		if !p.have && p.ref == nil {
			byUID[p.meta.UID] = p
			need = append(need, p.meta.UID)
		}
	}
	f, err := os.CreateTemp(e.opts.SpoolDir, "holdover-mail-*.spool")
	if err != nil {
		return spoolFile{}, fmt.Errorf("spool: %w", err)
	}
	spool := spoolFile{f}
	if len(need) == 0 {
		return spool, nil
	}
	var off int64
	err = r.FetchBodies(ctx, need, func(uid uint32, size int64, body io.Reader) error {
		p := byUID[uid]
		if p == nil {
			return nil
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(spool, h), body)
		if err != nil {
			return err
		}
		p.off, p.size, p.have, p.sum = off, n, true, h.Sum(nil)
		off += n
		d.mu.Lock()
		d.prog.Bytes += n
		d.st.Bytes += n
		d.st.Downloaded++
		d.mu.Unlock()
		return nil
	})
	if err != nil {
		spool.discard()
		return spoolFile{}, err
	}
	for _, p := range batch {
		if p.have && p.bodyID == 0 && p.sum != nil {
			text := extractText(io.NewSectionReader(spool, p.off, p.size))
			if _, err := spool.WriteAt([]byte(text), off); err != nil {
				spool.discard()
				return spoolFile{}, fmt.Errorf("spool: %w", err)
			}
			p.textOff, p.textLen = off, int64(len(text))
			off += p.textLen
		}
	}
	return spool, nil
}

// commit stores a prepared batch in one transaction with the folder's
// resume point. It runs in chunk order (see download).
func (d *download) commit(ctx context.Context, batch []*pending, spool spoolFile) error {
	e, f := d.e, d.f
	var maxUID uint32
	stored := 0
	err := e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		maxUID, stored = 0, 0
		var index []*pending // new bodies, indexed after the rest (see store.Tx.IndexMailBody)
		localOnly, err := tx.HasLocalOnlyMail(ctx, f.ID)
		if err != nil {
			return err
		}
		for _, p := range batch {
			m := p.meta
			bodyID := p.bodyID
			switch {
			case p.ref != nil:
				// An earlier message of this download brought the body;
				// when that one vanished before its body was read, this
				// copy waits for the next pass (the folder's counts tell
				// it that something is missing).
				if bodyID = p.ref.bodyID; bodyID == 0 {
					continue
				}
			case !p.have:
				// Expunged between FETCH and FETCH BODY: nothing to store.
				continue
			case bodyID == 0:
				id, err := tx.InsertMailBodySum(ctx, e.opts.Account, m.MessageID, p.size, p.sum, io.NewSectionReader(spool, p.off, p.size))
				if err != nil {
					return err
				}
				bodyID = id
				index = append(index, p)
			}
			// A message a local app appended (or copied) is already shown
			// in this folder with its own local UID: the server's copy is
			// that row, not a new one (see migration 0013).
			var bound bool
			var err error
			if localOnly {
				if bound, err = tx.BindLocalMailMessage(ctx, f.ID, m.UID, m.MessageID, m.Size); err != nil {
					return err
				}
			}
			if !bound {
				_, err = tx.InsertMailMessage(ctx, store.MailMessage{
					FolderID: f.ID, UID: m.UID, BodyID: bodyID, MessageID: m.MessageID, Size: m.Size,
					InternalDate: m.InternalDate, Date: m.Date, Flags: m.Flags, ModSeq: m.ModSeq,
					Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc,
				})
			}
			if err != nil {
				return err
			}
			if p.own != nil {
				p.own.bodyID = bodyID
			}
			p.stored = bodyID
			stored++
			maxUID = max(maxUID, m.UID)
		}
		for _, p := range index {
			m := p.meta
			text := make([]byte, p.textLen)
			if _, err := spool.ReadAt(text, p.textOff); err != nil {
				return fmt.Errorf("spool: %w", err)
			}
			if err := tx.IndexMailBody(ctx, p.stored, m.Subject, m.From, joinAddrs(m.To, m.Cc), string(text)); err != nil {
				return err
			}
		}
		if maxUID == 0 {
			return nil
		}
		return tx.SetMailFolderSyncedUID(ctx, f.ID, maxUID)
	})
	if errors.Is(err, store.ErrSizeMismatch) {
		// The server sent something else than it announced; retry later
		// rather than store a truncated message.
		return hsync.Errorf(hsync.Transient, "store "+f.Name, err)
	}
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.st.New += stored
	d.prog.Done = min(d.prog.Total, d.prog.Done+len(batch))
	if e.opts.Progress != nil {
		e.opts.Progress(d.prog)
	}
	return nil
}

func joinAddrs(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}
