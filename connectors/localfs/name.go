package localfs

import (
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalidName is wrapped by CheckName's errors: the remote name cannot
// become a local one (the engine reports it and leaves the file remote).
var ErrInvalidName = errors.New("not a valid local name")

// goos is the system whose naming rules CheckName applies. It is a
// variable so that the Windows rules run in tests on any system.
var goos = runtime.GOOS

// maxSegment is the longest name a path segment may have, in bytes: the
// limit of ext4, XFS, btrfs and APFS (255 bytes), and stricter than
// NTFS's 255 UTF-16 units.
const maxSegment = 255

// CheckName reports whether a remote path ("/"-separated, relative to
// the synced root) may become a local path, under the rules of the
// system holdover runs on. A nil error promises that the path, joined to
// the root, names an entry strictly inside it, the same one on every
// call, and one that the local filesystem can hold.
//
// Refused everywhere: "", absolute paths, empty, "." and ".." segments,
// invalid UTF-8, a backslash (a separator on Windows, so a name from a
// server could leave its folder there), control characters (C0, DEL and
// C1: a name is shown in terminals and logs, where they act), segments
// longer than 255 bytes, names that start with holdover's own temporary
// prefix (Scan would hide them and the stale-file cleanup remove them),
// and invisible characters that make a name look like another (see
// disguise). On Windows also: the characters <>:"|?*, a trailing dot or
// space (Windows drops them, so "a." and "a" would be the same file),
// and device names (CON, PRN, AUX, NUL, COM1-9, LPT1-9, CONIN$, CONOUT$)
// with or without an extension: "nul.txt" opens the null device on
// Windows before 11.
//
// The error names the first bad segment (shortened) and the reason; it
// wraps ErrInvalidName.
func CheckName(remotePath string) error { return checkName(remotePath, goos) }

func checkName(p, system string) error {
	if p == "" {
		return fmt.Errorf("%w: empty path", ErrInvalidName)
	}
	if !utf8.ValidString(p) {
		return fmt.Errorf("%w: %s: not valid UTF-8", ErrInvalidName, quote(p))
	}
	if p[0] == '/' {
		return fmt.Errorf("%w: %s: absolute path", ErrInvalidName, quote(p))
	}
	for seg := range strings.SplitSeq(p, "/") {
		if reason := segmentProblem(seg, system); reason != "" {
			return fmt.Errorf("%w: segment %s: %s", ErrInvalidName, quote(seg), reason)
		}
	}
	return nil
}

// segmentProblem returns why seg cannot be a local name, or "".
func segmentProblem(seg, system string) string {
	switch {
	case seg == "":
		return "empty (a doubled or trailing /)"
	case seg == "." || seg == "..":
		return "a relative path element"
	case len(seg) > maxSegment:
		return "longer than 255 bytes"
	case strings.HasPrefix(seg, tempPrefix):
		return "reserved for holdover's temporary files"
	}
	for _, r := range seg {
		switch {
		case r < 0x20 || r == 0x7f || 0x80 <= r && r <= 0x9f:
			return fmt.Sprintf("control character %U", r)
		case r == '\\':
			return "backslash"
		case disguise(r):
			return fmt.Sprintf("invisible character %U can disguise a name", r)
		case system == "windows" && strings.ContainsRune(`<>:"|?*`, r):
			return fmt.Sprintf("character %q is not allowed on Windows", r)
		}
	}
	if system == "windows" {
		if last := seg[len(seg)-1]; last == '.' || last == ' ' {
			return "ends with a dot or space (Windows drops it)"
		}
		if windowsDevice(seg) {
			return "a Windows device name"
		}
	}
	return ""
}

// disguise reports whether r is one of the invisible characters that can
// make a name read as another one, and that no one needs in a file name:
//   - U+202A–U+202E (embeddings and overrides) and U+2066–U+2069
//     (isolates) reorder what follows: "invoice\u202Efdp.exe" shows as
//     "invoiceexe.pdf" (the "Trojan Source" set, CVE-2021-42574);
//   - U+2028 and U+2029 break a line in a listing or a log;
//   - U+FEFF (byte order mark) is invisible and has no place mid-text.
//
// Allowed on purpose: ZWJ and ZWNJ (U+200D, U+200C), needed in emoji
// sequences and to spell Persian and Indic words correctly, and the
// direction marks U+200E, U+200F and U+061C, which right-to-left names
// use legitimately and which cannot move strong characters around.
func disguise(r rune) bool {
	return 0x202a <= r && r <= 0x202e || 0x2066 <= r && r <= 0x2069 ||
		r == 0x2028 || r == 0x2029 || r == 0xfeff
}

// windowsDevice reports whether seg names a DOS device. The device part
// ends at the first dot or colon, trailing spaces dropped ("con .txt" is
// CON too), as Windows parses it.
func windowsDevice(seg string) bool {
	base := seg
	if i := strings.IndexAny(base, ".:"); i >= 0 {
		base = base[:i]
	}
	base = strings.ToUpper(strings.TrimRight(base, " "))
	switch base {
	case "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$":
		return true
	}
	if len(base) < 4 || base[:3] != "COM" && base[:3] != "LPT" {
		return false
	}
	// Windows counts the superscript digits ¹²³ as digits here too.
	switch digit := base[3:]; digit {
	case "1", "2", "3", "4", "5", "6", "7", "8", "9", "\u00b9", "\u00b2", "\u00b3":
		return true
	}
	return false
}

// quote shows a name in an error: escaped (a control or bidi character
// is visible) and cut to 64 bytes, since a hostile name can be huge.
func quote(s string) string {
	const limit = 64
	if len(s) <= limit {
		return strconv.Quote(s)
	}
	cut := limit
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "…"
}

// FoldKey returns the key under which two paths collide on a
// case-insensitive filesystem: the engine refuses to bring a second
// remote name with the same key into a folder where CaseInsensitive is
// true, or one would overwrite the other.
//
// The key is canonical caseless matching (Unicode §3.13): NFD, full case
// folding, then NFC so that the key is readable. It is deliberately
// broader than any one filesystem (NTFS folds simple case only, so
// "Straße" and "STRASSE" are two names there, one here): a false
// collision keeps one file remote, a missed one loses a file. The
// normalization also makes the NFC and NFD spellings of "é" collide, as
// they do on APFS and HFS+.
func FoldKey(path string) string {
	return norm.NFC.String(cases.Fold().String(norm.NFD.String(path)))
}

// checkRel is the guard every method applies to its path. It is not
// CheckName: a local name the engine got from Scan is valid on this disk
// whatever it contains, and must stay usable (a file named "a\b" on
// Linux). It only refuses what could name something outside the root or
// not the file meant: an empty, absolute or non-canonical path, "." or
// ".." segments, NUL, and on Windows a backslash, a colon (drive letters,
// alternate data streams) and device names.
func checkRel(p string) error {
	if p == "" || p[0] == '/' || strings.IndexByte(p, 0) >= 0 {
		return fmt.Errorf("localfs: invalid path %s", quote(p))
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("localfs: invalid path %s", quote(p))
		}
		if runtime.GOOS == "windows" && (strings.ContainsAny(seg, `\:`) || windowsDevice(seg)) {
			return fmt.Errorf("localfs: invalid path %s", quote(p))
		}
	}
	return nil
}
