//go:build !linux

package localfs

import "os"

// renameNoReplace has no portable form (macOS has renamex_np with
// RENAME_EXCL, Windows MoveFileEx without REPLACE_EXISTING for files
// only); the caller checks, then renames.
func renameNoReplace(fdir *os.Root, from string, tdir *os.Root, to string) error {
	return errNoReplaceUnsupported
}
