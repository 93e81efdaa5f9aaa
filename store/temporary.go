package store

import (
	"errors"
	"syscall"

	"github.com/mattn/go-sqlite3"
)

// IsTemporary reports whether err is a local failure that goes away by
// itself: the database stayed busy or locked by another process beyond
// the busy timeout, or the disk (or the user's quota) is full. Callers
// that promise durability, such as sendmail, tell their own callers to
// try again later for these and only these; anything else (a corrupt
// file, a permission problem, a bug) would fail the same way again.
func IsTemporary(err error) bool {
	var se sqlite3.Error
	if errors.As(err, &se) {
		switch se.Code {
		case sqlite3.ErrBusy, sqlite3.ErrLocked, sqlite3.ErrFull:
			return true
		case sqlite3.ErrIoErr:
			return se.SystemErrno == syscall.ENOSPC || se.SystemErrno == syscall.EDQUOT
		}
		return false
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}
