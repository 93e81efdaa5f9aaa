//go:build linux

package localfs

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from in fdir to to in tdir, failing with
// EEXIST (fs.ErrExist) if to exists: renameat2(RENAME_NOREPLACE), so no
// entry created meanwhile is ever replaced. Both names are single
// segments resolved in folders already opened without following links.
// Kernels before 3.15 and some filesystems (older NFS, some FUSE) lack
// it: errNoReplaceUnsupported.
func renameNoReplace(fdir *os.Root, from string, tdir *os.Root, to string) error {
	fd, err := fdir.Open(".")
	if err != nil {
		return err
	}
	defer fd.Close()
	td, err := tdir.Open(".")
	if err != nil {
		return err
	}
	defer td.Close()
	fc, err := fd.SyscallConn()
	if err != nil {
		return err
	}
	tc, err := td.SyscallConn()
	if err != nil {
		return err
	}
	var rerr error
	cerr := fc.Control(func(ffd uintptr) {
		cerr := tc.Control(func(tfd uintptr) {
			rerr = unix.Renameat2(int(ffd), from, int(tfd), to, unix.RENAME_NOREPLACE)
		})
		if rerr == nil {
			rerr = cerr
		}
	})
	switch {
	case cerr != nil:
		return cerr
	case errors.Is(rerr, unix.ENOSYS), errors.Is(rerr, unix.EINVAL):
		return errNoReplaceUnsupported
	case rerr != nil:
		return &os.LinkError{Op: "renameat2", Old: from, New: to, Err: rerr}
	}
	return nil
}
