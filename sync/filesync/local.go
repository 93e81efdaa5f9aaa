package filesync

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// The local pass: what changed in the folder since the base becomes rows
// of file_entries and outbox actions, in one transaction. It needs no
// server, so it runs during an outage.

type localResult struct {
	queued, moves int
	problems      []store.FileProblem
}

// diskEntry is a path found on disk, with its hash when it was needed.
type diskEntry struct {
	hsync.LocalFile
	hash string
}

func (e *Engine) scanLocal(ctx context.Context, force bool) (localResult, error) {
	var res localResult
	before, err := e.rowMap(ctx)
	if err != nil {
		return res, err
	}
	disk := map[string]*diskEntry{}
	var order []string
	var unreadable []string // paths whose subtree is unknown this pass
	err = e.opts.Local.Scan(ctx, func(f hsync.LocalFile, ferr error) error {
		if ferr != nil {
			unreadable = append(unreadable, f.Path)
			res.problems = append(res.problems, problem("local", f.Path, ferr.Error()))
			return nil
		}
		disk[f.Path] = &diskEntry{LocalFile: f}
		order = append(order, f.Path)
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("scan the local folder: %w", err)
	}
	// Hash what may have changed, outside the write transaction.
	for _, p := range order {
		d := disk[p]
		if d.Dir {
			continue
		}
		if r, ok := before[p]; ok && r.LocalState != store.FileDeleted && !r.Dir && viewOf(r).Same(d.LocalFile) {
			continue
		}
		sum, f, err := e.opts.Local.Hash(ctx, p)
		switch {
		case errors.Is(err, hsync.ErrLocalChanged):
			// Still being written: the watcher reports it again when it
			// settles, and until then it is left as it was.
			unreadable = append(unreadable, p)
			delete(disk, p)
			continue
		case err != nil:
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			unreadable = append(unreadable, p)
			delete(disk, p)
			res.problems = append(res.problems, problem("local", p, err.Error()))
			continue
		}
		d.LocalFile, d.hash = f, sum
	}
	err = e.opts.DB.Write(ctx, func(tx *store.Tx) error {
		all, err := tx.FileEntriesUnder(ctx, e.opts.Account, "")
		if err != nil {
			return err
		}
		rows := make(map[string]store.FileEntry, len(all))
		for _, r := range all {
			rows[r.Path] = r
		}
		p := &localPlan{e: e, tx: tx, rows: rows, disk: disk, order: order, unreadable: unreadable}
		if err := p.plan(ctx); err != nil {
			return err
		}
		if why := p.guard(); why != "" && !force {
			return &guardTrip{why}
		}
		if err := p.apply(ctx); err != nil {
			return err
		}
		res.queued, res.moves = p.queued, len(p.moves)
		return nil
	})
	var trip *guardTrip
	if errors.As(err, &trip) {
		return res, e.trip(ctx, trip.why)
	}
	return res, err
}

type guardTrip struct{ why string }

func (g *guardTrip) Error() string { return g.why }

func (e *Engine) rowMap(ctx context.Context) (map[string]store.FileEntry, error) {
	all, err := e.opts.DB.FileEntries(ctx, e.opts.Account)
	if err != nil {
		return nil, err
	}
	m := make(map[string]store.FileEntry, len(all))
	for _, r := range all {
		m[r.Path] = r
	}
	return m, nil
}

// viewOf is the local version a row last saw.
func viewOf(r store.FileEntry) hsync.LocalFile {
	return hsync.LocalFile{Path: r.Path, Dir: r.Dir, Size: r.Size, ModTime: r.MTime}
}

// localPlan decides, in the write transaction, what the scan means.
type localPlan struct {
	e          *Engine
	tx         *store.Tx
	rows       map[string]store.FileEntry
	disk       map[string]*diskEntry
	order      []string
	unreadable []string

	created  []string // new on disk (files and folders), path order
	modified []string // files whose content changed
	touched  []string // files whose mtime changed, not their content
	gone     []string // rows no longer on disk (not ignored, not unknown)
	moves    []move
	queued   int
}

type move struct {
	from, to string
	dir      bool
}

func (p *localPlan) plan(ctx context.Context) error {
	for _, path := range p.order {
		d, ok := p.disk[path]
		if !ok {
			continue
		}
		r, known := p.rows[path]
		switch {
		case !known, r.LocalState == store.FileDeleted, r.Dir != d.Dir:
			if known && r.Dir != d.Dir && r.LocalState != store.FileDeleted {
				// A file became a folder or the reverse: the old one is
				// gone, the new one is new.
				p.gone = append(p.gone, path)
			}
			p.created = append(p.created, path)
		case d.Dir:
		case d.hash == "":
			// Same size and time as the row: unchanged.
		case d.hash == r.Hash:
			p.touched = append(p.touched, path)
		default:
			p.modified = append(p.modified, path)
		}
	}
	for path, r := range p.rows {
		if p.disk[path] != nil {
			continue // on disk (a change of kind was seen above)
		}
		if r.LocalState == store.FileDeleted && !p.parentOnDisk(path) {
			continue // an ancestor's queued delete covers it
		}
		if p.unknown(path) || p.e.opts.Local.Ignored(path, r.Dir) || p.ignoredAncestor(path) {
			continue
		}
		p.gone = append(p.gone, path)
	}
	slices.Sort(p.gone)
	p.findMoves()
	return ctx.Err()
}

// parentOnDisk reports whether path's folder is on disk (the root is).
func (p *localPlan) parentOnDisk(path string) bool {
	dir := parentOf(path)
	if dir == "" {
		return true
	}
	d, ok := p.disk[dir]
	return ok && d.Dir
}

// unknown reports whether path lies under a path the scan could not read.
func (p *localPlan) unknown(path string) bool {
	for _, u := range p.unreadable {
		if under(path, u) {
			return true
		}
	}
	return false
}

// ignoredAncestor reports whether a folder above path is ignored now (a
// rule added to .holdoverignore hides a synced folder: that deletes
// nothing on the server).
func (p *localPlan) ignoredAncestor(path string) bool {
	for dir := parentOf(path); dir != ""; dir = parentOf(dir) {
		if p.e.opts.Local.Ignored(dir, true) {
			return true
		}
	}
	return false
}

// topGone returns the gone paths whose folder is not gone too.
func (p *localPlan) topGone() []string {
	var out []string
	for i, path := range p.gone {
		if i > 0 && len(out) > 0 && under(path, out[len(out)-1]) && p.rows[out[len(out)-1]].Dir {
			continue
		}
		out = append(out, path)
	}
	return out
}

// guard says why the deletions of this scan are too many ("" if not).
// Renames are not deletions.
func (p *localPlan) guard() string {
	moved := map[string]bool{}
	for _, m := range p.moves {
		moved[m.from] = true
	}
	n, total := 0, 0
	for _, r := range p.rows {
		if r.Dir || !r.OnServer() {
			continue
		}
		total++
	}
	for _, path := range p.gone {
		r := p.rows[path]
		if r.Dir || !r.OnServer() || r.LocalState == store.FileDeleted || p.movedAway(path, moved) {
			continue
		}
		n++
	}
	return p.e.guard("local", n, total)
}

func (p *localPlan) movedAway(path string, moved map[string]bool) bool {
	for from := range moved {
		if under(path, from) {
			return true
		}
	}
	return false
}

// findMoves pairs gone and new paths with the same content: a folder
// gone and one new holding the same files (same relative paths and
// hashes) is a folder rename; then a gone file and a new one with the
// same size and hash, each the only one of its kind, is a file rename.
// Only synced rows move: a row with a queued change is replayed as is.
func (p *localPlan) findMoves() {
	taken := map[string]bool{}
	newTops := p.topCreated()
	newSig := map[string][]string{}
	for _, n := range newTops {
		if d := p.disk[n]; d != nil && d.Dir {
			sig := p.diskSignature(n)
			newSig[sig] = append(newSig[sig], n)
		}
	}
	for _, g := range p.topGone() {
		r := p.rows[g]
		if !r.Dir || r.LocalState != store.FileSynced {
			continue
		}
		sig, ok := p.rowSignature(g)
		if !ok || sig == "" {
			continue
		}
		if cands := newSig[sig]; len(cands) == 1 && !taken[cands[0]] {
			p.moves = append(p.moves, move{from: g, to: cands[0], dir: true})
			taken[cands[0]], taken[g] = true, true
		}
	}
	type fileKey struct {
		size int64
		hash string
	}
	goneBy, newBy := map[fileKey][]string{}, map[fileKey][]string{}
	for _, g := range p.gone {
		r := p.rows[g]
		if r.Dir || r.LocalState != store.FileSynced || !r.OnServer() || p.inTaken(g, taken) {
			continue
		}
		k := fileKey{r.Size, r.Hash}
		goneBy[k] = append(goneBy[k], g)
	}
	for _, c := range p.created {
		d := p.disk[c]
		if d == nil || d.Dir || d.hash == "" || p.inTaken(c, taken) {
			continue
		}
		k := fileKey{d.Size, d.hash}
		newBy[k] = append(newBy[k], c)
	}
	for k, gs := range goneBy {
		if ns := newBy[k]; len(gs) == 1 && len(ns) == 1 && k.hash != "" {
			p.moves = append(p.moves, move{from: gs[0], to: ns[0]})
			taken[gs[0]], taken[ns[0]] = true, true
		}
	}
	slices.SortFunc(p.moves, func(a, b move) int { return strings.Compare(a.to, b.to) })
}

func (p *localPlan) inTaken(path string, taken map[string]bool) bool {
	for dir := path; dir != ""; dir = parentOf(dir) {
		if taken[dir] {
			return true
		}
	}
	return false
}

// topCreated returns the created paths whose folder is not created too.
func (p *localPlan) topCreated() []string {
	var out []string
	for _, c := range p.created {
		if n := len(out); n > 0 && under(c, out[n-1]) {
			continue
		}
		out = append(out, c)
	}
	return out
}

// rowSignature lists the files below a gone folder (relative path and
// hash); ok is false when any of them has a queued change or is still on
// disk.
func (p *localPlan) rowSignature(dir string) (string, bool) {
	var parts []string
	for path, r := range p.rows {
		if path == dir || !under(path, dir) {
			continue
		}
		if r.LocalState != store.FileSynced || p.disk[path] != nil {
			return "", false
		}
		parts = append(parts, strings.TrimPrefix(path, dir)+"\x00"+r.Hash)
	}
	slices.Sort(parts)
	return strings.Join(parts, "\n"), true
}

func (p *localPlan) diskSignature(dir string) string {
	var parts []string
	for _, c := range p.created {
		if c == dir || !under(c, dir) {
			continue
		}
		parts = append(parts, strings.TrimPrefix(c, dir)+"\x00"+p.disk[c].hash)
	}
	slices.Sort(parts)
	return strings.Join(parts, "\n")
}
