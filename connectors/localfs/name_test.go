package localfs

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestCheckName(t *testing.T) {
	long := strings.Repeat("é", 128) // 256 bytes
	tests := []struct {
		name    string
		path    string
		unix    string // "" accepted, else a fragment of the error
		windows string
	}{
		{"a plain name is accepted", "report.pdf", "", ""},
		{"nested folders are accepted", "a/b/c.txt", "", ""},
		{"unicode letters and spaces are accepted", "Überweisung März/été 2025.ods", "", ""},
		{"an emoji sequence with a zero-width joiner is accepted", "fam\u200d.txt", "", ""},
		{"Persian with a zero-width non-joiner is accepted", "می\u200cخواهم.txt", "", ""},
		{"a hidden file is accepted", ".profile", "", ""},
		{"a 255-byte segment is accepted", strings.Repeat("a", 255), "", ""},
		{"the ignore file itself is accepted", ".holdoverignore", "", ""},
		{"a colon is fine on unix, not on Windows", "a:b", "", "not allowed on Windows"},
		{"a question mark is fine on unix, not on Windows", "why?.txt", "", "not allowed on Windows"},
		{"angle brackets and pipes are refused on Windows", "a<b>|c", "", "not allowed on Windows"},
		{"a trailing dot is fine on unix, not on Windows", "name.", "", "dot or space"},
		{"a trailing space is fine on unix, not on Windows", "dir /f", "", "dot or space"},
		{"a device name is refused on Windows", "CON", "", "device"},
		{"a device name in lower case is refused on Windows", "nul", "", "device"},
		{"a device name with an extension is refused on Windows", "sub/nul.txt", "", "device"},
		{"a device name with a spaced extension is refused on Windows", "con .tar.gz", "", "device"},
		{"COM1 and LPT9 are devices on Windows", "x/LPT9.log", "", "device"},
		{"a superscript COM port is a device on Windows", "COM\u00b9", "", "device"},
		{"CONIN$ is a device on Windows", "conin$", "", "device"},
		{"COM0 is not a device", "COM0", "", ""},
		{"a device name as a prefix is not a device", "console.txt", "", ""},
		{"empty", "", "empty path", "empty path"},
		{"dot", ".", "relative path element", "relative path element"},
		{"dot-dot", "..", "relative path element", "relative path element"},
		{"a dot-dot segment", "a/../../etc/passwd", "relative path element", "relative path element"},
		{"a dot segment", "a/./b", "relative path element", "relative path element"},
		{"absolute", "/etc/passwd", "absolute", "absolute"},
		{"a doubled slash", "a//b", "empty", "empty"},
		{"a trailing slash", "a/b/", "empty", "empty"},
		{"NUL", "a\x00b", "control character", "control character"},
		{"a newline", "evil\nname", "control character", "control character"},
		{"DEL", "a\x7f", "control character", "control character"},
		{"a C1 control (CSI)", "a\u009b31m", "control character", "control character"},
		{"invalid UTF-8", "a\xffb", "UTF-8", "UTF-8"},
		{"a backslash on every system", `a\..\..\x`, "backslash", "backslash"},
		{"a segment over 255 bytes", "d/" + long, "255 bytes", "255 bytes"},
		{"a right-to-left override", "invoice\u202efdp.exe", "U+202E", "U+202E"},
		{"a left-to-right isolate", "a\u2066b", "U+2066", "U+2066"},
		{"a line separator", "a\u2028b", "U+2028", "U+2028"},
		{"a byte order mark", "\ufeffa", "U+FEFF", "U+FEFF"},
		{"holdover's temporary prefix", "d/.holdover-tmp-x", "temporary", "temporary"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, sys := range []struct{ goos, want string }{{"linux", tt.unix}, {"windows", tt.windows}} {
				err := checkName(tt.path, sys.goos)
				switch {
				case sys.want == "" && err != nil:
					t.Errorf("%s: CheckName(%q) = %v, want accepted", sys.goos, tt.path, err)
				case sys.want != "" && err == nil:
					t.Errorf("%s: CheckName(%q) accepted, want an error about %q", sys.goos, tt.path, sys.want)
				case err != nil && (!strings.Contains(err.Error(), sys.want) || !errors.Is(err, ErrInvalidName)):
					t.Errorf("%s: CheckName(%q) = %v, want an ErrInvalidName about %q", sys.goos, tt.path, err, sys.want)
				}
			}
		})
	}
}

func TestCheckNameFollowsTheGOOSVariable(t *testing.T) {
	defer func(g string) { goos = g }(goos)
	goos = "windows"
	if CheckName("aux.c") == nil {
		t.Error(`with goos=windows, "aux.c" was accepted`)
	}
	goos = "linux"
	if err := CheckName("aux.c"); err != nil {
		t.Errorf(`with goos=linux, "aux.c": %v`, err)
	}
}

func TestCheckNameErrorDoesNotRepeatAHugePath(t *testing.T) {
	p := strings.Repeat("x", 1<<20) + "\n"
	err := CheckName(p)
	if err == nil || len(err.Error()) > 200 {
		t.Fatalf("error of %d bytes: %.300v", len(err.Error()), err)
	}
}

func TestFoldKey(t *testing.T) {
	same := [][2]string{
		{"Report.PDF", "report.pdf"},
		{"ÉTÉ/Plan", "été/plan"},
		{"e\u0301te\u0301", "\u00e9t\u00e9"}, // NFD and NFC spellings (APFS)
		{"Straße", "STRASSE"},                // full folding: broader than NTFS on purpose
		{"ΣΟΦΟΣ", "σοφος"},                   // final sigma
		{"\u212a", "k"},                      // the Kelvin sign
	}
	for _, p := range same {
		if FoldKey(p[0]) != FoldKey(p[1]) {
			t.Errorf("FoldKey(%q) = %q, FoldKey(%q) = %q: want a collision", p[0], FoldKey(p[0]), p[1], FoldKey(p[1]))
		}
	}
	if FoldKey("a/b") == FoldKey("a/c") || FoldKey("ab") == FoldKey("a/b") {
		t.Error("distinct names collide")
	}
}

// FuzzCheckName: an accepted name, joined to a root, stays strictly
// inside it, holds no NUL, and comes back as the same slash path; the
// Windows rules only ever refuse more.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{
		"a", "a/b", "", ".", "..", "../x", "a/../../b", "/etc/passwd", "a//b", "a/", "./a",
		`..\..\windows`, `C:\x`, "C:x", "c:", `\\server\share`, "a\x00b", "con", "NUL.txt", "com1.a.b",
		"name.", "name ", "a\u202eb", "\u2066", "\xff\xfe", "a\r\nb", ".holdover-tmp-1",
		strings.Repeat("a", 256), strings.Repeat("é/", 300), "~", "...", ". ", " ..", "..\u200b",
		"\u00e9", "e\u0301", "ﬁ", "İ", "a/b/c/d/e/f/g",
	} {
		f.Add(s)
	}
	root := filepath.Join(string(filepath.Separator)+"srv", "root")
	f.Fuzz(func(t *testing.T, p string) {
		FoldKey(p)
		err := checkName(p, goos)
		if checkName(p, "windows") == nil && err != nil {
			t.Fatalf("%q: accepted by the Windows rules, refused by %s's: %v", p, goos, err)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidName) {
				t.Fatalf("%q: error %v does not wrap ErrInvalidName", p, err)
			}
			return
		}
		if strings.IndexByte(p, 0) >= 0 || !utf8.ValidString(p) {
			t.Fatalf("%q accepted", p)
		}
		if checkRel(p) != nil {
			t.Fatalf("%q accepted by CheckName, refused by the methods' guard: %v", p, checkRel(p))
		}
		joined := filepath.Join(root, filepath.FromSlash(p))
		rel, err := filepath.Rel(root, joined)
		if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
			t.Fatalf("%q escapes the root: joined %q, rel %q (%v)", p, joined, rel, err)
		}
		if filepath.ToSlash(rel) != p {
			t.Fatalf("%q does not round-trip: %q", p, filepath.ToSlash(rel))
		}
	})
}
