package filesync

import (
	"encoding/json"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// The outbox kinds of the files service.
const (
	kindPut    = "file.put"
	kindDelete = "file.delete"
	kindMove   = "file.move"
	kindMkdir  = "file.mkdir"
)

// Kinds are the outbox kinds the files executor replays.
var Kinds = []string{kindPut, kindDelete, kindMove, kindMkdir}

// key is the outbox target key of a path: one action in flight per path.
func key(p string) string { return "file:" + p }

// payload is the JSON of every file action. The content of an upload is
// not in it: the upload reads the file when it runs.
type payload struct {
	Path string `json:"path"`           // put, mkdir, delete: the path; move: the destination
	From string `json:"from,omitempty"` // move: the source
	Dir  bool   `json:"dir,omitempty"`
}

func (p payload) bytes() []byte {
	b, _ := json.Marshal(p)
	return b
}

// ActionPath returns the path a files action is about (ok false for an
// action of another kind).
func ActionPath(r store.OutboxRow) (string, bool) {
	if !strings.HasPrefix(r.Kind, "file.") {
		return "", false
	}
	p, err := parsePayload(r.Payload)
	return shown(p.Path), err == nil
}

func parsePayload(b []byte) (payload, error) {
	var p payload
	if err := json.Unmarshal(b, &p); err != nil || p.Path == "" {
		return p, fmt.Errorf("file action payload %q: not understood", b)
	}
	return p, nil
}

// under reports whether p is dir or lies below it.
func under(p, dir string) bool {
	return p == dir || strings.HasPrefix(p, dir+"/")
}

// parentOf returns the folder holding p ("" for the root).
func parentOf(p string) string {
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		return p[:i]
	}
	return ""
}

// conflictName is where the local side of a both-sides change goes:
// "report.conflict-laptop-20261130-143005.docx" next to "report.docx".
// exists is asked for a free name (a second conflict within a second
// gets a counter).
func conflictName(p, host string, at time.Time, exists func(string) bool) string {
	dir, base := parentOf(p), path.Base(p)
	ext := path.Ext(base)
	if ext == base { // ".bashrc" has no extension
		ext = ""
	}
	stem := strings.TrimSuffix(base, ext)
	host = strings.Map(func(r rune) rune {
		if r == '/' || r == '\\' || r < ' ' || r == '.' {
			return '-'
		}
		return r
	}, host)
	name := fmt.Sprintf("%s.conflict-%s-%s", stem, host, at.Local().Format("20060102-150405"))
	out := join(dir, name+ext)
	for i := 2; exists(out); i++ {
		out = join(dir, fmt.Sprintf("%s-%d%s", name, i, ext))
	}
	return out
}

// shown is a path as reports may show it: quoted, with escapes, when it
// holds anything a terminal would interpret (a hostile name could carry
// escape sequences).
func shown(p string) string {
	for _, r := range p {
		if !unicode.IsGraphic(r) || unicode.Is(unicode.Bidi_Control, r) {
			return strconv.QuoteToASCII(p)
		}
	}
	return p
}

// problem is a report of a path that could not be synced.
func problem(side, path, msg string) store.FileProblem {
	return store.FileProblem{Path: shown(path), Side: side, Problem: shown(msg)}
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// syntheticPrefix marks a version the engine made up for a server that
// sends no ETag: size and modification time stand in for it. Such a tag
// is never sent in an If-Match; the executor compares it itself.
const syntheticPrefix = "holdover:"

// versionOf is the tag the base records for a listed file.
func versionOf(f hsync.RemoteFile) string {
	if f.ETag != "" || f.Dir {
		return f.ETag
	}
	return fmt.Sprintf("%s%d:%d", syntheticPrefix, f.Size, f.ModTime.Unix())
}

func synthetic(etag string) bool { return strings.HasPrefix(etag, syntheticPrefix) }

// sameVersion reports whether a listed file is the base version.
func sameVersion(f hsync.RemoteFile, etag string) bool {
	return hsync.SameETag(versionOf(f), etag)
}
