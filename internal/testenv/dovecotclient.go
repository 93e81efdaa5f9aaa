package testenv

import (
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Client returns a logged-in IMAP client for the first user, closed at
// the end of the test: the tests' own view of the server, for seeding and
// for checking what holdover did.
func (d *Dovecot) Client(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(d.Addr(), nil)
	if err != nil {
		t.Fatalf("testenv: dial dovecot: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Login(d.User, d.Password).Wait(); err != nil {
		t.Fatalf("testenv: login to dovecot: %v", err)
	}
	return c
}

// Append stores a raw message in folder through c (dated now unless date
// is given) and returns its UID.
func Append(t testing.TB, c *imapclient.Client, folder string, raw []byte, date time.Time, flags ...imap.Flag) uint32 {
	t.Helper()
	if date.IsZero() {
		date = time.Now()
	}
	cmd := c.Append(folder, int64(len(raw)), &imap.AppendOptions{Flags: flags, Time: date})
	if _, err := cmd.Write(raw); err != nil {
		t.Fatalf("testenv: append to %s: %v", folder, err)
	}
	if err := cmd.Close(); err != nil {
		t.Fatalf("testenv: append to %s: %v", folder, err)
	}
	data, err := cmd.Wait()
	if err != nil {
		t.Fatalf("testenv: append to %s: %v", folder, err)
	}
	return uint32(data.UID)
}
