package mailsync

import (
	"regexp"
	"strings"
)

// FolderFilter selects the folders to mirror. Patterns use the syntax of
// Go's path.Match (which the configuration validates: ?, [a-z], [^a-z], \
// to escape) with mbsync's meaning of the wildcards: "*" matches any run of
// characters including the hierarchy delimiter, so "*" is every folder and
// "Archive*" includes Archive's subfolders, while "%" matches a run
// without it (one level). "INBOX" matches case-insensitively. A folder is
// mirrored when it matches an include pattern and no exclude pattern.
type FolderFilter struct {
	Include []string
	Exclude []string
}

// Match reports whether the folder is selected.
func (f FolderFilter) Match(name, delim string) bool {
	inc := f.Include
	if len(inc) == 0 {
		inc = []string{"*"}
	}
	return matchAny(inc, name, delim) && !matchAny(f.Exclude, name, delim)
}

func matchAny(patterns []string, name, delim string) bool {
	name = normInbox(name)
	for _, p := range patterns {
		re, err := compilePattern(normInbox(p), delim)
		if err == nil && re.MatchString(name) {
			return true
		}
	}
	return false
}

// normInbox upper-cases a leading INBOX, which IMAP treats as
// case-insensitive.
func normInbox(s string) string {
	if len(s) >= 5 && strings.EqualFold(s[:5], "INBOX") && (len(s) == 5 || !isNameChar(s[5])) {
		return "INBOX" + s[5:]
	}
	return s
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// compilePattern translates a pattern into an anchored regular expression.
func compilePattern(p, delim string) (*regexp.Regexp, error) {
	notDelim := "."
	if delim != "" {
		notDelim = "[^" + regexp.QuoteMeta(delim) + "]"
	}
	var b strings.Builder
	b.WriteString("^")
	r := []rune(p)
	for i := 0; i < len(r); i++ {
		switch c := r[i]; c {
		case '*':
			b.WriteString(".*")
		case '%':
			b.WriteString(notDelim + "*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i+1 < len(r) {
				i++
				b.WriteString(regexp.QuoteMeta(string(r[i])))
			}
		case '[':
			end := -1
			for j := i + 1; j < len(r); j++ {
				if r[j] == ']' {
					end = j
					break
				}
			}
			if end < 0 {
				b.WriteString(regexp.QuoteMeta("["))
				continue
			}
			class := string(r[i+1 : end])
			neg := strings.HasPrefix(class, "^")
			class = strings.ReplaceAll(strings.TrimPrefix(class, "^"), `\`, `\\`)
			if neg {
				class = "^" + class
			}
			b.WriteString("[" + class + "]")
			i = end
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString("$")
	return regexp.Compile(b.String())
}
