package mailsync

import "strings"

// FolderFilter selects the folders to mirror. Patterns follow mbsync's
// Patterns: "*" matches any run of characters including the hierarchy
// delimiter, "%" any run without it; "INBOX" matches case-insensitively.
// A folder is mirrored when it matches an include pattern and no exclude
// pattern.
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
	for _, p := range patterns {
		if globMatch(normInbox(p), normInbox(name), delim) {
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

func globMatch(pattern, name, delim string) bool {
	if pattern == "" {
		return name == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(name); i++ {
			if globMatch(pattern[1:], name[i:], delim) {
				return true
			}
		}
		return false
	case '%':
		for i := 0; i <= len(name); i++ {
			if globMatch(pattern[1:], name[i:], delim) {
				return true
			}
			if i < len(name) && delim != "" && strings.HasPrefix(name[i:], delim) {
				return false
			}
		}
		return false
	}
	if name == "" || pattern[0] != name[0] {
		return false
	}
	return globMatch(pattern[1:], name[1:], delim)
}
