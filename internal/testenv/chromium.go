package testenv

import "testing"

// Chromium returns the path of Debian's chromium, the browser the status
// page's browser test drives (headless, through the DevTools protocol).
// Like a missing server, a missing browser skips the test loudly, or fails
// it when CI=true.
func Chromium(t testing.TB) string {
	t.Helper()
	return mustBinary(t, "chromium")
}
