package mailsync

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// pending is a new message of a batch: its metadata and where its body
// is, either already stored (reuse) or spooled in the batch file.
type pending struct {
	meta   hsync.MessageMeta
	bodyID int64 // reused body, or 0
	off    int64 // spooled body at [off, off+size)
	size   int64
	text   string // extracted for the index, for spooled bodies
	have   bool   // a body is available (reused or spooled)
}

// fetchNew downloads the listed messages in ascending UID order, in
// batches, each committed in one transaction with the folder's resume
// point.
func (e *Engine) fetchNew(ctx context.Context, r hsync.MailRemote, f store.MailFolder, uids []uint32, st *Stats) error {
	if len(uids) == 0 {
		return nil
	}
	prog := Progress{Account: e.opts.Account, Folder: f.Name, Total: len(uids)}
	for chunk := range slices.Chunk(uids, e.opts.BatchMessages) {
		var metas []hsync.MessageMeta
		if err := r.FetchMeta(ctx, chunk, func(m hsync.MessageMeta) error { metas = append(metas, m); return nil }); err != nil {
			return err
		}
		// Split further so one batch spools at most BatchBytes.
		for len(metas) > 0 {
			n, size := 0, int64(0)
			for n < len(metas) && (n == 0 || size+metas[n].Size <= e.opts.BatchBytes) {
				size += metas[n].Size
				n++
			}
			if err := e.fetchBatch(ctx, r, f, metas[:n], st, &prog); err != nil {
				return err
			}
			metas = metas[n:]
		}
		prog.Done = min(prog.Total, prog.Done)
	}
	return nil
}

func (e *Engine) fetchBatch(ctx context.Context, r hsync.MailRemote, f store.MailFolder, metas []hsync.MessageMeta, st *Stats, prog *Progress) error {
	batch := make([]*pending, len(metas))
	byUID := map[uint32]*pending{}
	var need []uint32
	for i, m := range metas {
		p := &pending{meta: m}
		batch[i] = p
		byUID[m.UID] = p
		id, ok, err := e.opts.DB.FindMailBody(ctx, e.opts.Account, m.MessageID, m.Size)
		if err != nil {
			return err
		}
		if ok {
			p.bodyID, p.have = id, true
			st.Reused++
			continue
		}
		need = append(need, m.UID)
		prog.BytesTodo += m.Size
	}

	spool, err := os.CreateTemp(e.opts.SpoolDir, "holdover-mail-*.spool")
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	var off int64
	err = r.FetchBodies(ctx, need, func(uid uint32, size int64, body io.Reader) error {
		p := byUID[uid]
		if p == nil {
			return nil
		}
		n, err := io.Copy(spool, body)
		if err != nil {
			return err
		}
		p.off, p.size, p.have = off, n, true
		off += n
		prog.Bytes += n
		st.Bytes += n
		st.Downloaded++
		return nil
	})
	if err != nil {
		return err
	}
	for _, p := range batch {
		if p.have && p.bodyID == 0 {
			p.text = extractText(io.NewSectionReader(spool, p.off, p.size))
		}
	}

	var maxUID uint32
	err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		for _, p := range batch {
			if !p.have {
				// Expunged between FETCH and FETCH BODY: nothing to store.
				continue
			}
			m := p.meta
			if p.bodyID == 0 {
				id, err := tx.InsertMailBody(ctx, e.opts.Account, m.MessageID, p.size, io.NewSectionReader(spool, p.off, p.size))
				if err != nil {
					return err
				}
				if err := tx.IndexMailBody(ctx, id, m.Subject, m.From, joinAddrs(m.To, m.Cc), p.text); err != nil {
					return err
				}
				p.bodyID = id
			}
			_, err := tx.InsertMailMessage(ctx, store.MailMessage{
				FolderID: f.ID, UID: m.UID, BodyID: p.bodyID, MessageID: m.MessageID, Size: m.Size,
				InternalDate: m.InternalDate, Date: m.Date, Flags: m.Flags, ModSeq: m.ModSeq,
				Subject: m.Subject, From: m.From, To: m.To, Cc: m.Cc,
			})
			if err != nil {
				return err
			}
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
	for _, p := range batch {
		if p.have {
			st.New++
		}
	}
	prog.Done += len(batch)
	if e.opts.Progress != nil {
		e.opts.Progress(*prog)
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
