package testenv

import (
	"os/exec"
	"testing"
)

// Mutt returns the path of Debian's mutt, which the sendmail tests drive
// in batch mode (mutt -F muttrc -s subject rcpt < body) as a real caller
// of sendmail. Like a missing server, a missing mutt skips the test
// loudly, or fails it when CI=true.
func Mutt(t testing.TB) string {
	t.Helper()
	return mustBinary(t, "mutt")
}

// BSDMailx returns the path of Debian's bsd-mailx, or skips the test
// when it is not installed, even in CI: the package depends on a mail
// transport agent (exim4 by default), which install-test-deps.sh does
// not impose on a developer's machine.
func BSDMailx(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("bsd-mailx")
	if err != nil {
		t.Skip("bsd-mailx not installed (optional: it pulls in an MTA)")
	}
	return p
}

// Tool returns the path of a real client program a test drives (mbsync,
// offlineimap, vdirsyncer, litmus, …). Like a missing server, a missing
// tool skips the test loudly, or fails it when CI=true; the install
// script (scripts/install-test-deps.sh) installs every one of them.
func Tool(t testing.TB, binary string) string {
	t.Helper()
	return mustBinary(t, binary)
}
