package imapd

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-message/textproto"

	"github.com/holdover/holdover/store"
)

// each calls f for every message of the selection in numSet (sequence
// numbers or local UIDs, "*" meaning the last), in sequence order, each
// message once. The ranges are looked up by binary search in the
// selection (ordered by local UID), so a client that fetches message by
// message (mbsync does) costs what it fetches, not the folder's size per
// command.
func (sel *selected) each(numSet imap.NumSet, f func(seq uint32, m store.LocalMail) error) error {
	n := len(sel.msgs)
	var spans [][2]int // [lo, hi) indexes into sel.msgs
	switch set := numSet.(type) {
	case imap.SeqSet:
		for _, r := range set {
			start, stop := r.Start, r.Stop
			staticRange(&start, &stop, uint32(n))
			lo, hi := int(min(uint64(start), uint64(n)+1))-1, int(min(uint64(stop), uint64(n)))
			if start == 0 { // an empty selection: "*" is nothing
				continue
			}
			spans = append(spans, [2]int{lo, hi})
		}
	case imap.UIDSet:
		var last uint32
		if n > 0 {
			last = sel.msgs[n-1].LocalUID
		}
		for _, r := range set {
			start, stop := uint32(r.Start), uint32(r.Stop)
			staticRange(&start, &stop, last)
			lo := sort.Search(n, func(i int) bool { return sel.msgs[i].LocalUID >= start })
			hi := sort.Search(n, func(i int) bool { return sel.msgs[i].LocalUID > stop })
			spans = append(spans, [2]int{lo, hi})
		}
	default:
		return &imap.Error{Type: imap.StatusResponseTypeBad, Text: "Unsupported number set"}
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	next := 0 // the first index not visited yet
	for _, sp := range spans {
		for i := max(sp[0], next); i < sp[1]; i++ {
			if err := f(uint32(i)+1, sel.msgs[i]); err != nil {
				return err
			}
		}
		next = max(next, sp[1])
	}
	return nil
}

// staticRange resolves "*" (0) to last.
func staticRange(start, stop *uint32, last uint32) {
	if *start == 0 {
		*start = last
	}
	if *stop == 0 {
		*stop = last
	}
	if *start > *stop {
		*start, *stop = *stop, *start
	}
}

func (ss *session) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if ss.sel == nil {
		return errNotYet
	}
	// A BODY[] without PEEK marks the message read (RFC 3501 6.4.5),
	// as a local change like STORE; on a read-only folder it does not.
	seen := false
	for _, bs := range options.BodySection {
		seen = seen || !bs.Peek
	}
	for _, bs := range options.BinarySection {
		seen = seen || !bs.Peek
	}
	seen = seen && ss.writable()
	needsBody := len(options.BodySection)+len(options.BinarySection)+len(options.BinarySectionSize) > 0 || options.Envelope || options.BodyStructure != nil
	expungeIssued := false
	err := ss.sel.each(numSet, func(seq uint32, m store.LocalMail) error {
		opts := options
		if ss.sel.isGone(m) {
			// Left the folder, its EXPUNGE not sent yet (RFC 9051 7.5.1
			// forbids it now): its sequence number still stands for it,
			// so it is answered from the view, and from its body while
			// the store keeps that; never flagged.
			if needsBody && !ss.bodyStored(m) {
				expungeIssued = true
				return nil
			}
			return ss.fetchOne(w.CreateMessage(seq), m, opts)
		}
		if seen && !m.Seen() {
			var err error
			if m, err = ss.flag(m, []string{string(imap.FlagSeen)}, nil); err != nil {
				return err
			}
			o := *options
			o.Flags = true // the client learns the new flags with the body
			opts = &o
		}
		return ss.fetchOne(w.CreateMessage(seq), m, opts)
	})
	if err == nil && expungeIssued {
		return errExpungeIssued
	}
	return err
}

// errExpungeIssued ends a FETCH that left out messages whose bodies went
// with them (RFC 5530); the client learns of their EXPUNGE at its next
// command.
var errExpungeIssued = &imap.Error{Type: imap.StatusResponseTypeNo, Code: "EXPUNGEISSUED",
	Text: "Some of the messages asked for were expunged meanwhile"}

// bodyStored reports whether a message's body can still be read.
func (ss *session) bodyStored(m store.LocalMail) bool {
	_, err := ss.s.opts.DB.OpenMailBody(ss.s.base, m.BodyID)
	return err == nil
}

func imapFlags(flags []string) []imap.Flag {
	out := make([]imap.Flag, len(flags))
	for i, f := range flags {
		out[i] = imap.Flag(f)
	}
	return out
}

func (ss *session) fetchOne(w *imapserver.FetchResponseWriter, m store.LocalMail, options *imap.FetchOptions) error {
	w.WriteUID(imap.UID(m.LocalUID))
	if options.Flags {
		w.WriteFlags(imapFlags(m.Flags))
	}
	if options.InternalDate {
		w.WriteInternalDate(m.InternalDate)
	}
	if options.RFC822Size {
		w.WriteRFC822Size(m.Size)
	}
	if options.Envelope {
		h, err := ss.header(m)
		if err != nil {
			return err
		}
		w.WriteEnvelope(imapserver.ExtractEnvelope(h))
	}
	if options.BodyStructure != nil {
		r, err := ss.body(m)
		if err != nil {
			return err
		}
		w.WriteBodyStructure(imapserver.ExtractBodyStructure(r))
	}
	for _, bs := range options.BodySection {
		if err := ss.fetchSection(w, m, bs); err != nil {
			return err
		}
	}
	// BINARY (RFC 3516): a part decoded from its transfer encoding, cut
	// from the same stream; a client asks for one part at a time.
	for _, bs := range options.BinarySection {
		r, err := ss.body(m)
		if err != nil {
			return err
		}
		buf := imapserver.ExtractBinarySection(r, bs)
		wc := w.WriteBinarySection(bs, int64(len(buf)))
		_, werr := wc.Write(buf)
		if cerr := wc.Close(); werr == nil {
			werr = cerr
		}
		if werr != nil {
			return werr
		}
	}
	for _, bs := range options.BinarySectionSize {
		r, err := ss.body(m)
		if err != nil {
			return err
		}
		w.WriteBinarySectionSize(bs, imapserver.ExtractBinarySectionSize(r, bs))
	}
	return w.Close()
}

// fetchSection writes one BODY[...] item: the whole message is streamed
// from the store; a part, a header or a partial is cut from the same
// stream by go-imap's helpers.
func (ss *session) fetchSection(w *imapserver.FetchResponseWriter, m store.LocalMail, bs *imap.FetchItemBodySection) error {
	r, err := ss.body(m)
	if err != nil {
		return err
	}
	whole := bs.Specifier == imap.PartSpecifierNone && len(bs.Part) == 0 && bs.Partial == nil
	if !whole {
		buf := imapserver.ExtractBodySection(r, bs)
		wc := w.WriteBodySection(bs, int64(len(buf)))
		_, werr := wc.Write(buf)
		if cerr := wc.Close(); werr == nil {
			werr = cerr
		}
		return werr
	}
	wc := w.WriteBodySection(bs, m.Size)
	// Limited to the announced size: the copy ends with the last byte
	// instead of asking the store for a chunk after it (one query per
	// message saved). The store keeps a body only at its announced size
	// (store.ErrSizeMismatch), so nothing is cut.
	buf := copyBufs.Get().(*[]byte)
	n, err := io.CopyBuffer(wc, io.LimitReader(r, m.Size), *buf)
	copyBufs.Put(buf)
	if err == nil && n != m.Size {
		// The literal's length is already on the wire: a short body
		// cannot be answered any more; ending the connection is the
		// only honest way out.
		err = fmt.Errorf("body of message %d: %d bytes stored, %d announced", m.ID, n, m.Size)
	}
	if cerr := wc.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		ss.s.log.Error("IMAP endpoint: stream body", "account", ss.account, "message", m.ID, "err", err)
	}
	return err
}

// copyBufs are the buffers bodies are streamed through: io.Copy would
// allocate 32 KiB per message (neither side of the copy offers
// WriterTo/ReaderFrom), which a pull of every message pays in GC.
var copyBufs = sync.Pool{New: func() any {
	b := make([]byte, 32<<10)
	return &b
}}

func (ss *session) body(m store.LocalMail) (io.Reader, error) {
	r, err := ss.s.opts.DB.OpenMailBody(ss.s.base, m.BodyID)
	if err != nil {
		return nil, ss.local("open body", err)
	}
	return r, nil
}

func (ss *session) header(m store.LocalMail) (textproto.Header, error) {
	r, err := ss.body(m)
	if err != nil {
		return textproto.Header{}, err
	}
	h, err := textproto.ReadHeader(bufio.NewReader(r))
	if err != nil {
		// A malformed header is the message's, not ours: an empty
		// envelope, as other servers answer.
		return textproto.Header{}, nil
	}
	return h, nil
}

func (ss *session) Search(kind imapserver.NumKind, criteria *imap.SearchCriteria, options *imap.SearchOptions) (*imap.SearchData, error) {
	if ss.sel == nil {
		return nil, errNotYet
	}
	ss.sel.static(criteria)
	ss.sel.fts = map[string]map[int64]bool{} // one index query per term and search
	var seqs imap.SeqSet
	var uids imap.UIDSet
	for i, m := range ss.sel.msgs {
		seq := uint32(i) + 1
		if ss.sel.isGone(m) {
			continue // it matches nothing in the folder any more
		}
		ok, err := ss.matches(seq, m, criteria)
		if err != nil {
			return nil, err
		}
		if ok {
			seqs.AddNum(seq)
			uids.AddNum(imap.UID(m.LocalUID))
		}
	}
	if kind == imapserver.NumKindUID {
		return &imap.SearchData{All: uids}, nil
	}
	return &imap.SearchData{All: seqs}, nil
}

// static resolves "*" in every number set of the criteria.
func (sel *selected) static(c *imap.SearchCriteria) {
	last := uint32(len(sel.msgs))
	var lastUID uint32
	if last > 0 {
		lastUID = sel.msgs[last-1].LocalUID
	}
	for _, set := range c.SeqNum {
		for i := range set {
			staticRange(&set[i].Start, &set[i].Stop, last)
		}
	}
	for _, set := range c.UID {
		for i := range set {
			staticRange((*uint32)(&set[i].Start), (*uint32)(&set[i].Stop), lastUID)
		}
	}
	for i := range c.Not {
		sel.static(&c.Not[i])
	}
	for i := range c.Or {
		sel.static(&c.Or[i][0])
		sel.static(&c.Or[i][1])
	}
}

func hasFlag(flags []string, f imap.Flag) bool {
	for _, x := range flags {
		if strings.EqualFold(x, string(f)) {
			return true
		}
	}
	return false
}

// day is the date of t as IMAP compares it (the time and zone ignored).
func day(t time.Time) time.Time {
	y, mo, d := t.Date()
	return time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
}

// matches evaluates a search against one message. The cheap keys (numbers,
// flags, dates, sizes) come first; the header and body are read only when
// a key needs them.
func (ss *session) matches(seq uint32, m store.LocalMail, c *imap.SearchCriteria) (bool, error) {
	for _, set := range c.SeqNum {
		if !set.Contains(seq) {
			return false, nil
		}
	}
	for _, set := range c.UID {
		if !set.Contains(imap.UID(m.LocalUID)) {
			return false, nil
		}
	}
	for _, f := range c.Flag {
		if !hasFlag(m.Flags, f) {
			return false, nil
		}
	}
	for _, f := range c.NotFlag {
		if hasFlag(m.Flags, f) {
			return false, nil
		}
	}
	idate := day(m.InternalDate)
	if !c.Since.IsZero() && idate.Before(day(c.Since)) || !c.Before.IsZero() && !idate.Before(day(c.Before)) {
		return false, nil
	}
	if !c.SentSince.IsZero() || !c.SentBefore.IsZero() {
		sent := day(m.Date)
		if m.Date.IsZero() {
			sent = idate
		}
		if !c.SentSince.IsZero() && sent.Before(day(c.SentSince)) || !c.SentBefore.IsZero() && !sent.Before(day(c.SentBefore)) {
			return false, nil
		}
	}
	if c.Larger > 0 && m.Size <= c.Larger || c.Smaller > 0 && m.Size >= c.Smaller {
		return false, nil
	}
	if len(c.Header) > 0 {
		h, err := ss.header(m)
		if err != nil {
			return false, err
		}
		for _, hf := range c.Header {
			if !headerMatches(h, hf) {
				return false, nil
			}
		}
	}
	if len(c.Body) > 0 || len(c.Text) > 0 {
		ok, err := ss.textMatches(m, c.Body, c.Text)
		if err != nil || !ok {
			return false, err
		}
	}
	for i := range c.Not {
		ok, err := ss.matches(seq, m, &c.Not[i])
		if err != nil || ok {
			return false, err
		}
	}
	for _, or := range c.Or {
		a, err := ss.matches(seq, m, &or[0])
		if err != nil {
			return false, err
		}
		if !a {
			b, err := ss.matches(seq, m, &or[1])
			if err != nil || !b {
				return false, err
			}
		}
	}
	return true, nil
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}

func headerMatches(h textproto.Header, hf imap.SearchCriteriaHeaderField) bool {
	vals := h.Values(hf.Key)
	if hf.Value == "" {
		return len(vals) > 0
	}
	for _, v := range vals {
		if containsFold(v, hf.Value) {
			return true
		}
	}
	return false
}

// textMatches answers BODY and TEXT through the full-text index the
// mail engine keeps (subject, addresses and the decoded text body), never
// by reading bodies: a word or a phrase matches as a prefix of the words
// indexed ("meet" finds "meeting"), as Dovecot's FTS does, rather than
// as a raw substring. A term with no letter or digit matches every
// message (it has nothing to look up).
func (ss *session) textMatches(m store.LocalMail, body, text []string) (bool, error) {
	for _, terms := range []struct {
		column string
		list   []string
	}{{"body : ", body}, {"", text}} {
		for _, term := range terms.list {
			if !strings.ContainsFunc(term, func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }) {
				continue
			}
			q := terms.column + `"` + strings.ReplaceAll(term, `"`, `""`) + `"*`
			hits, ok := ss.sel.fts[q]
			if !ok {
				var err error
				if hits, err = ss.s.opts.DB.MailBodiesMatching(ss.s.base, ss.sel.folder.ID, q); err != nil {
					return false, ss.local("full-text search", err)
				}
				ss.sel.fts[q] = hits
			}
			if !hits[m.BodyID] {
				return false, nil
			}
		}
	}
	return true, nil
}
