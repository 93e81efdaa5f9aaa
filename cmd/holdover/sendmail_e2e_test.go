package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/holdover/holdover/internal/testenv"
)

// runClient runs a mail client with stdin and a private HOME, failing
// the test when it fails.
func runClient(t *testing.T, stdin string, env []string, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), append([]string{"HOME=" + t.TempDir()}, env...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}

// mutt, as a user runs it in a script: its own command line to sendmail
// (-oem -oi from $sendmail, -f from use_envelope_from, then -- and the
// recipients) reaches holdover, and the message is queued once.
func TestMuttSendsThroughHoldoverSendmail(t *testing.T) {
	mutt := testenv.Mutt(t)
	s := newSendmailSetup(t, [2]string{"work", jdoeMail})
	muttrc := filepath.Join(t.TempDir(), "muttrc")
	os.WriteFile(muttrc, []byte(`set sendmail="`+holdoverBin(t)+` sendmail --config `+s.cfg+` -oem -oi"
set from="Jane Doe <jd@example.com>"
set use_envelope_from=yes
set record=""
set copy=no
set hostname=example.com
`), 0o600)
	runClient(t, "Hello Bob,\n.\nthe line above is a lone dot.\n", nil, mutt, "-n", "-F", muttrc, "-s", "from mutt", "-c", "carol@example.com", "bob@example.com")
	q := s.queued(t)
	if len(q) != 1 {
		t.Fatalf("%d messages queued, want 1", len(q))
	}
	m := q[0]
	if m.from != "jd@example.com" || !slices.Equal(m.to, []string{"bob@example.com", "carol@example.com"}) {
		t.Errorf("envelope from %s to %v", m.from, m.to)
	}
	for _, want := range []string{"Subject: from mutt", "From: Jane Doe <jd@example.com>", "Hello Bob,\n.\nthe line above"} {
		if !strings.Contains(m.message, want) {
			t.Errorf("message lacks %q:\n%s", want, m.message)
		}
	}
}

// bsd-mailx runs "sendmail -i -t" by the path in its sendmail variable:
// here a link named sendmail to the holdover binary, which then acts as
// sendmail (the configuration from $HOLDOVER_CONFIG).
func TestBSDMailxSendsThroughALinkNamedSendmail(t *testing.T) {
	mailx := testenv.BSDMailx(t)
	s := newSendmailSetup(t, [2]string{"work", jdoeMail})
	dir := t.TempDir()
	link := filepath.Join(dir, "sendmail")
	if err := os.Symlink(holdoverBin(t), link); err != nil {
		t.Fatal(err)
	}
	mailrc := filepath.Join(dir, "mailrc")
	os.WriteFile(mailrc, []byte("set sendmail="+link+"\n"), 0o600)
	runClient(t, "disk report\n", []string{"MAILRC=" + mailrc, "HOLDOVER_CONFIG=" + s.cfg}, mailx, "-s", "from mailx", "-c", "carol@example.com", "bob@example.com")
	q := s.queued(t)
	if len(q) != 1 {
		t.Fatalf("%d messages queued, want 1", len(q))
	}
	if m := q[0]; m.from != "jane@example.com" || !slices.Equal(m.to, []string{"bob@example.com", "carol@example.com"}) ||
		!strings.Contains(m.message, "From: jane@example.com\r\n") || !strings.Contains(m.message, "Subject: from mailx") {
		t.Errorf("queued from %s to %v:\n%s", m.from, m.to, m.message)
	}
}
