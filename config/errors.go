package config

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Position is where a key was written: a file and a 1-based line and
// column. Line is 0 when only the file is known.
type Position struct {
	File   string
	Line   int
	Column int
}

// String returns "file:line", or just "file" when the line is unknown.
func (p Position) String() string {
	if p.Line <= 0 {
		return p.File
	}
	return p.File + ":" + strconv.Itoa(p.Line)
}

// Error is one problem in a configuration file.
type Error struct {
	File string // the configuration file
	Line int    // 1-based; 0 when unknown
	Path string // the offending key, e.g. "accounts[0].mail.imap.port"; may be empty
	Msg  string

	err error // optional cause, see Unwrap
}

// Error formats the problem as "file:line: path: msg", leaving out the
// parts that are unknown.
func (e Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":")
		b.WriteString(strconv.Itoa(e.Line))
	}
	if e.Path != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(e.Path)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying cause, if any (for instance
// fs.ErrNotExist when the file is missing).
func (e Error) Unwrap() error { return e.err }

// ErrorList is every problem [Load] found, sorted by file and line. It is
// never empty when returned as an error.
type ErrorList []Error

// Error returns one line per problem.
func (l ErrorList) Error() string {
	lines := make([]string, len(l))
	for i, e := range l {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.Is and errors.As look at every problem.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// errIn returns nil for an empty list, and the list sorted by position
// otherwise (problems without a line go last in their file), the files
// ranked as in order (the layers, lowest first); files not in order go
// after, by name.
func (l ErrorList) errIn(order []string) error {
	if len(l) == 0 {
		return nil
	}
	l.sortIn(order)
	return l
}

func (l ErrorList) sortIn(order []string) {
	rank := func(file string) int {
		if i := slices.Index(order, file); i >= 0 {
			return i
		}
		return len(order)
	}
	slices.SortStableFunc(l, func(a, b Error) int {
		if c := cmp.Compare(rank(a.File), rank(b.File)); c != 0 {
			return c
		}
		if c := cmp.Compare(a.File, b.File); c != 0 {
			return c
		}
		la, lb := a.Line, b.Line
		if la <= 0 {
			la = int(^uint(0) >> 1)
		}
		if lb <= 0 {
			lb = int(^uint(0) >> 1)
		}
		return cmp.Compare(la, lb)
	})
}
