package mailsync

import "testing"

func TestFolderFilter(t *testing.T) {
	cases := []struct {
		name     string
		inc, exc []string
		folder   string
		want     bool
	}{
		{"default includes everything", nil, nil, "Projects/2026", true},
		{"star crosses the delimiter", []string{"*"}, nil, "a/b/c", true},
		{"percent stays on one level", []string{"%"}, nil, "Projects/2026", false},
		{"percent matches a top folder", []string{"%"}, nil, "Projects", true},
		{"prefix with star includes subfolders", []string{"Archive*"}, nil, "Archive/2019", true},
		{"exclude wins", []string{"*"}, []string{"Junk", "Trash"}, "Junk", false},
		{"inbox is case-insensitive", []string{"INBOX"}, nil, "inbox", true},
		{"character class and ?", []string{"*"}, []string{"Archive/20[01]?"}, "Archive/2019", false},
		{"character class miss", []string{"*"}, []string{"Archive/20[01]?"}, "Archive/2025", true},
		{"negated class", []string{"Y[^0-9]"}, nil, "Ya", true},
		{"escaped star is literal", []string{`a\*`}, nil, "ab", false},
		{"non-ASCII names", []string{"Entwürfe*"}, nil, "Entwürfe & Notizen", true},
		{"regexp metacharacters are literal", []string{"a.b"}, nil, "axb", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := (FolderFilter{Include: c.inc, Exclude: c.exc}).Match(c.folder, "/"); got != c.want {
				t.Fatalf("Match(%q) = %v, want %v", c.folder, got, c.want)
			}
		})
	}
}
