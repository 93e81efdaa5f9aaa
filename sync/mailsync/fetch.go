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
// sessions at once (lanes, see lanes.go), so that one chunk's network
// reads, MIME decoding and hashing overlap another's commit: the writer
// is the one thing that cannot run in parallel, and it is most of the
// work (bench/mail.sh -pprof).
//
// Chunks pass two turnstiles, both in chunk order, which keep the
// engine's invariants with lanes:
//   - claim: after a chunk's metadata is read, it looks its messages up
//     among stored bodies and in the download's claims (Message-ID and
//     size), and claims the rest. A message claimed by an earlier chunk is
//     not downloaded again: it takes that chunk's body when it commits.
//     In chunk order, so the earlier chunk is always the owner, and a
//     body is downloaded at most once even when two lanes meet copies.
//   - commit: a chunk commits only after every earlier one did, so the
//     folder's resume point (synced_uid) only ever covers committed
//     messages, as with one session. An error stops the download; what
//     is committed stays.
type download struct {
	e        *Engine
	f        store.MailFolder
	validity uint32 // UIDVALIDITY of the listing the UIDs come from
	chunks   [][]uint32

	claimed   []chan struct{} // closed when chunk i has claimed its messages
	committed []chan struct{} // closed when chunk i is committed
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
	text   string // extracted for the index, for spooled bodies
	have   bool   // a body is available (reused or spooled)
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
					d.abortOnce.Do(func() { close(d.aborted) })
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
	return g.Wait()
}

// chunk fetches, prepares and commits chunk i on session r.
func (d *download) chunk(ctx context.Context, r hsync.MailRemote, i int) error {
	e := d.e
	var metas []hsync.MessageMeta
	if err := r.FetchMeta(ctx, d.chunks[i], func(m hsync.MessageMeta) error { metas = append(metas, m); return nil }); err != nil {
		return err
	}
	if err := d.turn(ctx, d.claimed, i); err != nil {
		return err
	}
	batch, err := d.claim(ctx, metas)
	close(d.claimed[i])
	if err != nil {
		return err
	}
	if len(batch) == 0 {
		// Every message of the chunk was expunged since the listing.
		if err := d.turn(ctx, d.committed, i); err != nil {
			return err
		}
		close(d.committed[i])
		return nil
	}
	// Split further so one batch spools at most BatchBytes.
	first := true
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
		if first {
			if err := d.turn(ctx, d.committed, i); err != nil {
				spool.discard()
				return err
			}
			first = false
		}
		err = d.commit(ctx, sub, spool)
		spool.discard()
		if err != nil {
			return err
		}
	}
	close(d.committed[i])
	return nil
}

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

// turn waits until chunk i-1 has passed the turnstile ch.
func (d *download) turn(ctx context.Context, ch []chan struct{}, i int) error {
	if d.stopped() {
		return errAborted
	}
	if i == 0 {
		return nil
	}
	select {
	case <-ch[i-1]:
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
			p.text = extractText(io.NewSectionReader(spool, p.off, p.size))
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
				if err := tx.IndexMailBody(ctx, id, m.Subject, m.From, joinAddrs(m.To, m.Cc), p.text); err != nil {
					return err
				}
				bodyID = id
			}
			_, err := tx.InsertMailMessage(ctx, store.MailMessage{
				FolderID: f.ID, UID: m.UID, BodyID: bodyID, MessageID: m.MessageID, Size: m.Size,
				InternalDate: m.InternalDate, Date: m.Date, Flags: m.Flags, ModSeq: m.ModSeq,
				Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc,
			})
			if err != nil {
				return err
			}
			if p.own != nil {
				p.own.bodyID = bodyID
			}
			stored++
			maxUID = max(maxUID, m.UID)
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
