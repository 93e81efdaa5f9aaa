package store

import (
	"fmt"
	"strings"
	"unicode"
)

// searchColumns maps the prefixes users type to FTS columns.
var searchColumns = map[string]string{
	"from": "from_addr", "to": "to_addr", "subject": "subject", "body": "body",
}

// MailSearchQuery turns what a user types into an FTS5 query: words and
// "quoted phrases" must all match; from:, to:, subject: and body: limit a
// term to one field (from:alice, subject:"board meeting"). Every term is
// quoted, so FTS5 operators in the input are searched for, never run.
func MailSearchQuery(input string) (string, error) {
	var terms []string
	rest := strings.TrimSpace(input)
	for rest != "" {
		col := ""
		if i := strings.IndexByte(rest, ':'); i > 0 && !strings.ContainsFunc(rest[:i], unicode.IsSpace) && !strings.Contains(rest[:i], `"`) {
			c, ok := searchColumns[strings.ToLower(rest[:i])]
			if !ok {
				return "", fmt.Errorf("search: unknown field %q (use from:, to:, subject: or body:)", rest[:i])
			}
			col, rest = c, rest[i+1:]
		}
		var term string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				return "", fmt.Errorf("search: unclosed quote in %q", input)
			}
			term, rest = rest[1:end+1], rest[end+2:]
		} else {
			end := strings.IndexFunc(rest, unicode.IsSpace)
			if end < 0 {
				end = len(rest)
			}
			term, rest = rest[:end], rest[end:]
		}
		rest = strings.TrimSpace(rest)
		if strings.TrimSpace(term) == "" {
			continue
		}
		q := `"` + strings.ReplaceAll(term, `"`, `""`) + `"`
		if col != "" {
			q = col + " : " + q
		}
		terms = append(terms, q)
	}
	if len(terms) == 0 {
		return "", fmt.Errorf("search: empty query")
	}
	return strings.Join(terms, " AND "), nil
}
