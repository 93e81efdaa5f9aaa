//go:build linux

package bench

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// genFile is one generated file: its content is size bytes of a ChaCha8
// stream seeded with seed, so a file is known by those two numbers.
type genFile struct {
	Path string // slash-separated, relative to the tree's root
	Size int64
	Seed uint64
}

// fileTree is a generated folder tree, as its generator wrote it.
type fileTree struct {
	Dirs  []string // every folder, parents first
	Files []genFile
	Bytes int64
	Big   int // files of 5 MB or more
	// Want is what each side must hold: path -> SHA-256 (hex). The
	// changes of step (c) update it.
	Want map[string]string
}

// treeParams say what to generate; they name the cache directory.
type treeParams struct {
	Files, Folders, MB int
	Seed               uint64
}

// fileGenVersion changes when the generator does, so a cached tree of an
// older generator is not reused.
const fileGenVersion = 1

func (p treeParams) cacheDir() string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("holdover-bench-files-tree-v%d-f%d-d%d-mb%d-s%d", fileGenVersion, p.Files, p.Folders, p.MB, p.Seed))
}

var (
	folderWords = []string{"Projects", "Archive", "Invoices", "Photos", "Reports", "Drafts", "Clients", "Taxes", "Scans",
		"Notes", "Travel", "Receipts", "Contracts", "Meetings", "Design", "Research", "Budget", "Slides", "Backup",
		"Shared", "Personal", "Team", "Old", "Misc", "Résumés", "Übersicht", "Q1", "Q2", "Q3", "Q4"}
	fileWords = []string{"report", "notes", "draft", "final", "invoice", "scan", "summary", "minutes", "plan", "budget",
		"photo", "IMG", "letter", "contract", "offer", "agenda", "todo", "readme", "export", "backup", "résumé"}
	fileExts = []string{".txt", ".md", ".pdf", ".docx", ".xlsx", ".jpg", ".png", ".csv", ".odt", ".json"}
)

// genTree decides the tree of p (names, sizes, seeds), without writing
// it: p.Folders folders nested up to 6 deep, every one holding at least
// one file; p.Files files, most of 1–200 KB (log-uniform), and as many
// of 5–20 MB as make about p.MB in all.
func genTree(p treeParams) *fileTree {
	r := rand.New(rand.NewPCG(p.Seed, 0x66696c6573))
	tr := &fileTree{}
	depth := map[string]int{"": 0}
	names := map[string]map[string]bool{"": {}} // folder -> names in it, lower case
	unique := func(dir, base, ext string) string {
		for i := 0; ; i++ {
			n := base + ext
			if i > 0 {
				n = fmt.Sprintf("%s %d%s", base, i+1, ext)
			}
			if !names[dir][strings.ToLower(n)] {
				names[dir][strings.ToLower(n)] = true
				return n
			}
		}
	}
	parents := []string{""}
	for len(tr.Dirs) < p.Folders {
		parent := ""
		if r.Float64() > 0.1 {
			parent = parents[r.IntN(len(parents))]
		}
		base := folderWords[r.IntN(len(folderWords))]
		if r.Float64() < 0.3 {
			base += fmt.Sprintf(" %d", 2015+r.IntN(12))
		}
		d := path.Join(parent, unique(parent, base, ""))
		tr.Dirs = append(tr.Dirs, d)
		depth[d] = depth[parent] + 1
		names[d] = map[string]bool{}
		if depth[d] < 6 {
			parents = append(parents, d)
		}
	}
	folders := append([]string{""}, tr.Dirs...)
	for i := 0; i < p.Files; i++ {
		dir := folders[r.IntN(len(folders))]
		if i < len(tr.Dirs) {
			dir = tr.Dirs[i] // no folder without a file
		}
		base := fileWords[r.IntN(len(fileWords))]
		switch r.IntN(3) {
		case 0:
			base += fmt.Sprintf("-%04d", r.IntN(10000))
		case 1:
			base += fmt.Sprintf(" %s %d", strings.ToLower(folderWords[r.IntN(len(folderWords))]), r.IntN(100))
		}
		f := genFile{Path: path.Join(dir, unique(dir, base, fileExts[r.IntN(len(fileExts))])), Size: smallSize(r), Seed: r.Uint64()}
		tr.Files = append(tr.Files, f)
		tr.Bytes += f.Size
	}
	for _, i := range r.Perm(len(tr.Files)) {
		if tr.Bytes >= int64(p.MB)<<20 || tr.Big >= len(tr.Files)/10 {
			break
		}
		f := &tr.Files[i]
		tr.Bytes -= f.Size
		f.Size = 5<<20 + r.Int64N(15<<20)
		tr.Bytes += f.Size
		tr.Big++
	}
	return tr
}

// clone is a copy of tr that changes of the copy leave alone.
func (tr *fileTree) clone() *fileTree {
	c := *tr
	c.Dirs = slices.Clone(tr.Dirs)
	c.Files = slices.Clone(tr.Files)
	c.Want = maps.Clone(tr.Want)
	return &c
}

// smallSize is log-uniform between 1 KB and 200 KB.
func smallSize(r *rand.Rand) int64 {
	return int64(math.Exp(math.Log(1<<10) + r.Float64()*(math.Log(200<<10)-math.Log(1<<10))))
}

// describe says what the tree holds.
func (tr *fileTree) describe() string {
	return fmt.Sprintf("%d files (%d of 5-20 MB, the rest 1-200 KB) in %d folders, %.0f MB", len(tr.Files), tr.Big, len(tr.Dirs), mb(tr.Bytes))
}

// contentReader is f's content.
func contentReader(seed uint64, size int64) io.Reader {
	var key [32]byte
	binary.LittleEndian.PutUint64(key[:], seed)
	copy(key[8:], "holdover bench files")
	return io.LimitReader(rand.NewChaCha8(key), size)
}

// writeGenFile writes size bytes of seed's content to name (its folder
// must exist) with mtime, and returns its SHA-256.
func writeGenFile(name string, seed uint64, size int64, mtime time.Time) (string, error) {
	f, err := os.Create(name)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	w := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	if _, err := io.Copy(w, contentReader(seed, size)); err != nil {
		f.Close()
		return "", err
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if !mtime.IsZero() {
		if err := os.Chtimes(name, mtime, mtime); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// cachedTree returns the tree of p, written into p.cacheDir()/tree (with
// modification times spread over the year before genNow) the first
// time, and reused after: the directory holds a manifest written last.
func cachedTree(p treeParams) (tr *fileTree, dir string, err error) {
	tr = genTree(p)
	cache := p.cacheDir()
	dir = filepath.Join(cache, "tree")
	manifest := filepath.Join(cache, "manifest.json")
	if b, err := os.ReadFile(manifest); err == nil && json.Unmarshal(b, &tr.Want) == nil && len(tr.Want) == len(tr.Files) {
		return tr, dir, nil
	}
	if err := os.RemoveAll(cache); err != nil {
		return nil, "", err
	}
	for _, d := range tr.Dirs {
		if err := os.MkdirAll(filepath.Join(dir, filepath.FromSlash(d)), 0o755); err != nil {
			return nil, "", err
		}
	}
	r := rand.New(rand.NewPCG(p.Seed, 1))
	tr.Want = map[string]string{}
	for _, f := range tr.Files {
		mtime := genNow.Add(-time.Duration(r.IntN(365*24*3600)) * time.Second)
		sum, err := writeGenFile(filepath.Join(dir, filepath.FromSlash(f.Path)), f.Seed, f.Size, mtime)
		if err != nil {
			return nil, "", err
		}
		tr.Want[f.Path] = sum
	}
	b, err := json.Marshal(tr.Want)
	if err != nil {
		return nil, "", err
	}
	return tr, dir, os.WriteFile(manifest, b, 0o644)
}

// copyTree copies the tree at src to dst (which must not exist), times
// kept, and hands it to o (Apache's user, for the server's side).
func copyTree(src, dst string, o owner) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
	return chownTree(dst, o)
}

// chownTree hands everything below dir, dir included, to o.
func chownTree(dir string, o owner) error {
	if !o.root {
		return nil
	}
	return filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return o.chown(p)
	})
}

// emptyDir makes dir an empty folder owned by o.
func emptyDir(dir string, o owner) error {
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return o.chown(dir)
}

// hashTree returns path -> SHA-256 of every regular file below dir. Apache's
// property databases (.DAV folders) are not files of the tree; any other
// entry that is neither a file nor a folder is listed as "not a file".
func hashTree(dir string) (map[string]string, error) {
	got := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if d.Name() == ".DAV" {
				return filepath.SkipDir
			}
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			got[rel] = "not a file"
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		h := sha256.New()
		if _, err := io.Copy(h, f); err != nil {
			return err
		}
		got[rel] = hex.EncodeToString(h.Sum(nil))
		return nil
	})
	return got, err
}

// diffTrees says how got differs from want ("" when it does not).
func diffTrees(got, want map[string]string) string {
	var missing, extra, differ []string
	for p, w := range want {
		switch g, ok := got[p]; {
		case !ok:
			missing = append(missing, p)
		case g != w:
			differ = append(differ, p)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			extra = append(extra, p)
		}
	}
	if len(missing)+len(extra)+len(differ) == 0 {
		return ""
	}
	first := func(s []string) string {
		slices.Sort(s)
		if len(s) > 5 {
			return strings.Join(s[:5], ", ") + ", …"
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("%d missing [%s], %d extra [%s], %d with other content [%s]",
		len(missing), first(missing), len(extra), first(extra), len(differ), first(differ))
}

// fileChange is one file written in step (c): where, and its new content.
type fileChange struct {
	genFile
	Sum string // SHA-256 of the content
}

// changeSet is one round of step (c): edits in the local folder, new
// local files, and edits made on the server by another client, on
// distinct files of at most 1 MB (files of 5 MB and more are not edited).
type changeSet struct {
	LocalEdits, LocalNew, RemoteEdits []fileChange
}

// genChanges picks round's changes of tr (seeded by round) and records
// them in tr.Want.
func genChanges(tr *fileTree, round, nLocalEdits, nLocalNew, nRemoteEdits int) changeSet {
	r := rand.New(rand.NewPCG(uint64(round), 0x6368616e676573))
	var small []int
	for i, f := range tr.Files {
		if f.Size <= 1<<20 {
			small = append(small, i)
		}
	}
	pick := r.Perm(len(small))
	next := 0
	edit := func() fileChange {
		f := tr.Files[small[pick[next%len(pick)]]]
		next++
		f.Seed = r.Uint64()
		f.Size = max(1, f.Size*int64(80+r.IntN(41))/100)
		return fileChange{genFile: f, Sum: sumOf(f)}
	}
	var cs changeSet
	for range min(nLocalEdits, len(small)) {
		cs.LocalEdits = append(cs.LocalEdits, edit())
	}
	for range min(nRemoteEdits, max(0, len(small)-nLocalEdits)) {
		cs.RemoteEdits = append(cs.RemoteEdits, edit())
	}
	folders := append([]string{""}, tr.Dirs...)
	for i := range nLocalNew {
		dir := folders[r.IntN(len(folders))]
		f := genFile{Path: path.Join(dir, fmt.Sprintf("new round %d file %d%s", round, i, fileExts[r.IntN(len(fileExts))])),
			Size: smallSize(r), Seed: r.Uint64()}
		cs.LocalNew = append(cs.LocalNew, fileChange{genFile: f, Sum: sumOf(f)})
		tr.Files = append(tr.Files, f)
		tr.Bytes += f.Size
	}
	for _, c := range slices.Concat(cs.LocalEdits, cs.RemoteEdits) {
		for i := range tr.Files {
			if tr.Files[i].Path == c.Path {
				tr.Bytes += c.Size - tr.Files[i].Size
				tr.Files[i] = c.genFile
			}
		}
	}
	for _, c := range slices.Concat(cs.LocalEdits, cs.LocalNew, cs.RemoteEdits) {
		tr.Want[c.Path] = c.Sum
	}
	return cs
}

func sumOf(f genFile) string {
	h := sha256.New()
	io.Copy(h, contentReader(f.Seed, f.Size))
	return hex.EncodeToString(h.Sum(nil))
}

// writeLocal writes the local edits and new files of cs below dir, as an
// application would (in place, modification time now).
func (cs changeSet) writeLocal(dir string) error {
	for _, c := range slices.Concat(cs.LocalEdits, cs.LocalNew) {
		if _, err := writeGenFile(filepath.Join(dir, filepath.FromSlash(c.Path)), c.Seed, c.Size, time.Time{}); err != nil {
			return err
		}
	}
	return nil
}
