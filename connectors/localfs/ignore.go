package localfs

import (
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"

	ignore "github.com/sabhiram/go-gitignore"
)

// IgnoreFile is the user's ignore file at the root of the folder, in
// gitignore syntax. It is synced like any file, so the rules follow the
// folder to every machine that syncs it.
const IgnoreFile = ".holdoverignore"

// tempPrefix starts the name of every temporary file holdover creates in
// the folder.
const tempPrefix = ".holdover-tmp-"

// builtinIgnores are never synced, in either direction, whatever the
// ignore file says. Each is a pattern (path.Match syntax) for one name,
// file or folder, compared without regard to case. The list keeps to
// names that are never a user's document: lock, swap and auto-save files
// of editors (they change every few seconds while someone types, and a
// copy on another machine would make the editor there think the document
// is open), caches and view settings the system writes by itself, and
// downloads in progress. Not ignored, on purpose: *.tmp (too many
// programs keep real data under it), *.bak, .git, conflict copies, and
// the ignore file itself.
var builtinIgnores = []string{
	tempPrefix + "*", // holdover's own: a Write in progress, or left by a crash

	"~$*",                                                          // Microsoft Office owner files ("~$report.docx")
	"~*.tmp",                                                       // Microsoft Office temporary copies ("~WRL0001.tmp")
	".~lock.*#",                                                    // LibreOffice lock files
	".#*",                                                          // Emacs lock files
	"#*#",                                                          // Emacs auto-save files
	"*~",                                                           // backup copies kept by Emacs, gedit, Kate, vim
	"*.swp",                                                        // vim swap files: .swp, then .swo when one exists...
	"*.swo",                                                        //
	"*.swx",                                                        // ...and .swx while vim probes the folder
	"*.kate-swp",                                                   // Kate swap files
	".directory",                                                   // KDE Dolphin view settings of a folder
	".DS_Store",                                                    // macOS Finder view settings of a folder
	"._*",                                                          // macOS resource forks on non-Apple filesystems
	"Icon\r",                                                       // macOS custom folder icon
	".Spotlight-V100", ".Trashes", ".fseventsd", ".TemporaryItems", // macOS, per volume
	"Thumbs.db", "ehthumbs.db", "desktop.ini", // Windows Explorer caches and settings
	"$RECYCLE.BIN", "System Volume Information", // Windows, per volume
	".Trash-*",                              // freedesktop trash on removable drives
	".fuse_hidden*",                         // a file deleted while still open, on FUSE
	".nfs" + strings.Repeat("[0-9a-f]", 24), // the same on NFS ("silly rename")
	"*.part",                                // downloads in progress: Firefox, KDE
	"*.crdownload",                          // Chrome, Edge
	"*.download",                            // Safari (a folder)
	"*.partial",                             // Internet Explorer
	"*.filepart",                            // WinSCP
}

// nameMatcher matches one name against builtinIgnores. Scan asks it for
// every entry, so the common shapes (an exact name, "x*", "*x") avoid
// path.Match.
type nameMatcher struct {
	exact          map[string]bool
	prefix, suffix []string
	globs          []string
}

var builtin = newNameMatcher(builtinIgnores)

func newNameMatcher(patterns []string) *nameMatcher {
	m := &nameMatcher{exact: map[string]bool{}}
	for _, p := range patterns {
		p = strings.ToLower(p)
		star := strings.IndexByte(p, '*')
		switch {
		case !strings.ContainsAny(p, `*?[\`):
			m.exact[p] = true
		case star == len(p)-1 && !strings.ContainsAny(p[:star], `*?[\`):
			m.prefix = append(m.prefix, p[:star])
		case star == 0 && !strings.ContainsAny(p[1:], `*?[\`):
			m.suffix = append(m.suffix, p[1:])
		default:
			m.globs = append(m.globs, p)
		}
	}
	return m
}

func (m *nameMatcher) match(name string) bool {
	name = strings.ToLower(name)
	if m.exact[name] {
		return true
	}
	for _, p := range m.prefix {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	for _, s := range m.suffix {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	for _, g := range m.globs {
		if ok, _ := path.Match(g, name); ok {
			return true
		}
	}
	return false
}

func isTemp(name string) bool { return strings.HasPrefix(name, tempPrefix) }

// userRules are the compiled rules of IgnoreFile, with the version of
// the file they came from.
type userRules struct {
	gi    *ignore.GitIgnore // nil: no rules
	size  int64
	mtime time.Time
	found bool
}

// match reports whether rel is excluded by the user's rules; "/" marks a
// folder, so that "build/" matches the folder build and not a file.
func (r *userRules) match(rel string, dir bool) bool {
	if r == nil || r.gi == nil {
		return false
	}
	if dir {
		rel += "/"
	}
	return r.gi.MatchesPath(rel)
}

// maxIgnoreFile bounds what is read of IgnoreFile: rules, not data.
const maxIgnoreFile = 1 << 20

// reloadRules reads IgnoreFile again if its size or mtime changed since
// the last read, and reports whether the rules changed. A missing file
// means no rules; a symbolic link in its place is not followed (no
// rules, logged). An unreadable file keeps the previous rules: dropping
// them would sync what the user meant to exclude.
func (f *Folder) reloadRules() bool {
	f.rulesMu.Lock()
	defer f.rulesMu.Unlock()
	old := f.rules.Load()
	fi, err := f.root.Lstat(IgnoreFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if old != nil && !old.found {
			return false
		}
		f.rules.Store(&userRules{})
		return old != nil
	case err != nil:
		f.log.Warn("localfs: cannot read the ignore file; keeping the previous rules", "err", err)
		return false
	case !fi.Mode().IsRegular():
		if old != nil && old.found && old.gi == nil && old.mtime.Equal(fi.ModTime()) {
			return false
		}
		f.log.Warn("localfs: the ignore file is not a regular file (a link is never followed); no rules apply", "mode", fi.Mode().String())
		f.rules.Store(&userRules{found: true, mtime: fi.ModTime()})
		return true
	case old != nil && old.found && old.size == fi.Size() && old.mtime.Equal(fi.ModTime()):
		return false
	}
	text, err := f.readIgnoreFile(fi)
	if err != nil {
		f.log.Warn("localfs: cannot read the ignore file; keeping the previous rules", "err", err)
		return false
	}
	f.rules.Store(&userRules{gi: compileRules(text), size: fi.Size(), mtime: fi.ModTime(), found: true})
	return true
}

func (f *Folder) readIgnoreFile(want fs.FileInfo) (string, error) {
	fh, err := f.root.Open(IgnoreFile)
	if err != nil {
		return "", err
	}
	defer fh.Close()
	if st, err := fh.Stat(); err != nil || !os.SameFile(want, st) {
		return "", errors.New("replaced while being opened")
	}
	b, err := io.ReadAll(io.LimitReader(fh, maxIgnoreFile))
	return string(b), err
}

// compileRules compiles gitignore text. go-gitignore turns each line
// into a regular expression but leaves gaps, closed here line by line
// before it sees them: "?" is taken literally (gitignore: any one
// character but "/"), "[!x]" is not negated, regexp operators such as +
// ( ) | ^ $ { } keep their regexp meaning, and a pattern with a slash in
// the middle ("docs/draft") is not anchored to the root.
func compileRules(text string) *ignore.GitIgnore {
	var lines []string
	for line := range strings.SplitSeq(text, "\n") {
		if l := gitignoreLine(line); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return ignore.CompileIgnoreLines(lines...)
}

func gitignoreLine(line string) string {
	line = strings.Trim(strings.TrimRight(line, "\r"), " ")
	if line == "" || line[0] == '#' {
		return ""
	}
	neg, lead := "", ""
	switch {
	case line[0] == '!':
		neg, line = "!", line[1:]
	case strings.HasPrefix(line, `\!`) || strings.HasPrefix(line, `\#`):
		// A class, or the library would take it for a negation or a
		// comment again.
		lead, line = "["+line[1:2]+"]", line[2:]
	}
	if lead+line == "" || lead+line == "/" {
		return ""
	}
	var b strings.Builder
	b.WriteString(lead)
	inClass := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\\' && i+1 < len(line):
			i++
			switch line[i] {
			case '?':
				b.WriteString("[?]")
			case '*':
				b.WriteString(`\*`)
			default:
				b.WriteString(regexpQuote(line[i]))
			}
		case c == '[' && !inClass:
			inClass = true
			b.WriteByte('[')
			if i+1 < len(line) && line[i+1] == '!' {
				b.WriteByte('^')
				i++
			}
		case c == ']' && inClass:
			inClass = false
			b.WriteByte(']')
		case c == '*' && inClass:
			b.WriteString(`\*`)
		case c == '?' && !inClass:
			b.WriteString("[^/]")
		case inClass:
			b.WriteByte(c)
		default:
			b.WriteString(regexpQuote(c))
		}
	}
	if inClass {
		return "" // an unclosed class: git ignores such a pattern too
	}
	body := b.String()
	if t := strings.TrimSuffix(body, "/"); strings.Contains(t, "/") && body[0] != '/' && !strings.HasPrefix(body, "**/") {
		body = "/" + body
	}
	return neg + body
}

// regexpQuote escapes the regexp operators that are plain characters in
// gitignore; "." "*" are the library's to translate.
func regexpQuote(c byte) string {
	if strings.IndexByte(`+()|^${}[]`, c) >= 0 {
		return `\` + string(c)
	}
	return string(c)
}

// Ignored reports whether path is excluded from sync: by a built-in
// rule, by IgnoreFile, or because a folder above it is. It applies to
// remote paths as well as local ones: the engine must neither upload nor
// download an ignored name.
func (f *Folder) Ignored(p string, dir bool) bool {
	rules := f.rules.Load()
	i := 0
	for {
		j := strings.IndexByte(p[i:], '/')
		if j < 0 {
			return ignoredEntry(rules, p, p[i:], dir)
		}
		if ignoredEntry(rules, p[:i+j], p[i:i+j], true) {
			return true
		}
		i += j + 1
	}
}

// ignoredEntry is Ignored for an entry whose parents are known not to
// be ignored (Scan never goes into an ignored folder).
func ignoredEntry(rules *userRules, rel, name string, dir bool) bool {
	return builtin.match(name) || rules.match(rel, dir)
}
