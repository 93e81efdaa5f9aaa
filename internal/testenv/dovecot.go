package testenv

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Dovecot is a running throwaway Dovecot IMAP server.
//
// It serves plaintext IMAP (no TLS; LOGIN and AUTHENTICATE PLAIN allowed) on
// Host:Port, stores mail as maildir, and advertises CONDSTORE, QRESYNC,
// IDLE, MOVE, UIDPLUS, SPECIAL-USE, LIST-STATUS and NOTIFY (the last two
// with Dovecot 2.3's defaults: no plugin or setting needed). Every user has the mailboxes INBOX,
// Sent, Drafts, Trash, Junk and Archive (created and subscribed on first
// login, each with its special-use flag).
type Dovecot struct {
	Host     string // always 127.0.0.1
	Port     int
	User     string // the first user, created by StartDovecot
	Password string // User's random password

	Dir     string // instance directory: config, passwd files, logs, state
	MailDir string // User's maildir (Dir/mail/<user>/Maildir)
	LogFile string // Dovecot's own log (log_path)

	passwdDir string     // one passwd-file per user
	mu        sync.Mutex // serialises AddUser
	runAs     runAs
	proc      *process
	launch    func(port int) *process
}

// Stop stops the server now, by PID: a provider outage. The mail stays.
func (d *Dovecot) Stop() {
	d.proc.reported = true // stopped on purpose: nothing to report at cleanup
	d.proc.stop()
}

// Restart starts a stopped server again on the same port with the same
// mail and users (the end of an outage).
func (d *Dovecot) Restart(t testing.TB) {
	t.Helper()
	d.Stop()
	p := d.launch(d.Port)
	t.Cleanup(p.stop)
	if err := waitReady(p, func() error { return imapProbe(d.Port) }); err != nil {
		p.stop()
		t.Fatalf("testenv: dovecot restart on port %d: %v\n%s", d.Port, err, p.logTail())
	}
	d.proc = p
}

// Addr returns "127.0.0.1:<port>".
func (d *Dovecot) Addr() string { return d.Host + ":" + strconv.Itoa(d.Port) }

// dovecotConf is the self-contained configuration; the stock
// /etc/dovecot configuration is never read.
const dovecotConf = `# holdover testenv: throwaway Dovecot, generated; do not edit.
instance_name = {{instance}}
base_dir = {{dir}}/run
state_dir = {{dir}}/state
log_path = {{dir}}/dovecot.log
info_log_path = {{dir}}/dovecot.log
debug_log_path = {{dir}}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = {{authmechs}}
# Answer failed logins at once (default 2s), so auth-failure tests are fast.
auth_failure_delay = 0
# Mail processes run as an unprivileged user: Dovecot refuses uid 0.
mail_uid = {{uid}}
mail_gid = {{gid}}
first_valid_uid = 1
first_valid_gid = 1
default_login_user = {{loginuser}}
default_internal_user = {{internaluser}}
default_internal_group = {{internalgroup}}
mail_location = maildir:~/Maildir
mail_fsync = never
# CONDSTORE/QRESYNC are in Dovecot's default imap_capability; it is left
# unset on purpose (setting it replaces the list). Modseqs are always
# tracked by the index files.
mail_plugins =

passdb {
  driver = passwd-file
{{passwdmechs}}  # One file per user: Dovecot stats a passwd file at most once a second,
  # but opens a file it has not seen yet at once, so AddUser takes effect
  # immediately.
  args = scheme=PLAIN username_format=%u {{dir}}/passwd.d/%u
}
{{oauth2passdb}}userdb {
  driver = static
  args = uid={{uid}} gid={{gid}} home={{dir}}/mail/%u
}

namespace inbox {
  inbox = yes
  separator = /
  prefix =
  mailbox Drafts {
    special_use = \Drafts
    auto = subscribe
  }
  mailbox Sent {
    special_use = \Sent
    auto = subscribe
  }
  mailbox Trash {
    special_use = \Trash
    auto = subscribe
  }
  mailbox Junk {
    special_use = \Junk
    auto = subscribe
  }
  mailbox Archive {
    special_use = \Archive
    auto = subscribe
  }
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = {{port}}
  }
  inet_listener imaps {
    port = 0
  }
{{loginchroot}}
}
protocol imap {
  mail_max_userip_connections = 100
}
{{anvilchroot}}`

// StartDovecot starts a Dovecot IMAP server on 127.0.0.1 with one user
// whose password is random, and stops it (by PID) when the test ends.
// When the tests run as root, mail is owned by [TestUser], which is created
// if missing; the login and internal processes use the stock dovenull and
// dovecot users of the Debian package. Options (such as [WithOAuth2])
// change the configuration; without any it is the one described at
// [Dovecot].
func StartDovecot(t testing.TB, opts ...DovecotOption) *Dovecot {
	t.Helper()
	var o dovecotOptions
	for _, opt := range opts {
		opt(&o)
	}
	authMechs, passwdMechs, oauth2Passdb := "plain login", "", ""
	if o.oidc != nil {
		oauth2Passdb, passwdMechs, authMechs = o.oauth2Config(t)
	}
	bin := mustBinary(t, "dovecot")
	Require(t, "/usr/lib/dovecot/imap") // dovecot-imapd, apart from dovecot-core
	ru := unprivileged(t)
	group, err := ru.groupName()
	if err != nil {
		t.Fatalf("testenv: dovecot: group of %s: %v", ru.Name, err)
	}
	loginUser, internalUser, internalGroup, chroot, anvilChroot := "dovenull", "dovecot", "dovecot", "", ""
	if !ru.Root {
		// Not root: everything runs as the current user, without chroot.
		loginUser, internalUser, internalGroup, chroot = ru.Name, ru.Name, group, "  chroot =\n"
		anvilChroot = "  chroot =\n"
	}
	if o.oidc != nil {
		anvilChroot += oauth2AnvilPenaltyOff
	}
	if anvilChroot != "" {
		anvilChroot = "service anvil {\n" + anvilChroot + "}\n"
	}

	dir := instanceDir(t, "dovecot")
	mkdirs(t, filepath.Join(dir, "run"), filepath.Join(dir, "state"), filepath.Join(dir, "mail"))
	ru.chown(t, filepath.Join(dir, "mail"))
	d := &Dovecot{
		Host:      "127.0.0.1",
		Dir:       dir,
		LogFile:   filepath.Join(dir, "dovecot.log"),
		passwdDir: filepath.Join(dir, "passwd.d"),
		runAs:     ru,
	}
	mkdirs(t, d.passwdDir)
	d.User, d.Password = d.AddUser(t, "holdover")
	d.MailDir = filepath.Join(dir, "mail", d.User, "Maildir")
	if o.oidc != nil {
		oauth2Conf := filepath.Join(dir, "dovecot-oauth2.conf.ext")
		writeFile(t, oauth2Conf, o.oauth2Ext(), 0o644)
		oauth2Passdb = strings.ReplaceAll(oauth2Passdb, "{{oauth2conf}}", oauth2Conf)
	}

	conf := filepath.Join(dir, "dovecot.conf")
	launch := func(port int) *process {
		r := strings.NewReplacer(
			"{{instance}}", filepath.Base(dir),
			"{{dir}}", dir,
			"{{uid}}", ru.Name,
			"{{gid}}", group,
			"{{loginuser}}", loginUser,
			"{{internaluser}}", internalUser,
			"{{internalgroup}}", internalGroup,
			"{{port}}", strconv.Itoa(port),
			"{{loginchroot}}", chroot,
			"{{anvilchroot}}", anvilChroot,
			"{{authmechs}}", authMechs,
			"{{passwdmechs}}", passwdMechs,
			"{{oauth2passdb}}", oauth2Passdb,
		)
		writeFile(t, conf, r.Replace(dovecotConf), 0o644)
		return startProcess(t, "dovecot", dir, filepath.Join(dir, "stdout.log"),
			[]string{d.LogFile}, nil, bin, "-F", "-c", conf)
	}
	d.launch = launch
	d.proc, d.Port = startServer(t, launch, imapProbe)
	return d
}

// imapProbe succeeds once an IMAP server greets on the port.
func imapProbe(port int) error {
	c, err := dialProbe(port)
	if err != nil {
		return err
	}
	defer c.Close()
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("unexpected IMAP greeting %q", line)
	}
	_, _ = c.Write([]byte("z LOGOUT\r\n"))
	return nil
}

// AddUser adds an IMAP user named name (made unique if taken) with a random
// password and returns its login and password. The user can log in at once
// (each user has its own passwd file, which Dovecot opens on first lookup);
// its mailboxes are created at first login.
func (d *Dovecot) AddUser(t testing.TB, name string) (user, password string) {
	t.Helper()
	if name == "" || strings.ContainsAny(name, ":/%@\x00\n\r\t ") || strings.HasPrefix(name, ".") {
		t.Fatalf("testenv: dovecot: bad user name %q", name)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	user = name
	for i := 2; ; i++ {
		if _, err := os.Lstat(filepath.Join(d.passwdDir, user)); os.IsNotExist(err) {
			break
		}
		user = fmt.Sprintf("%s%d", name, i)
	}
	password = randomSecret(t)
	home := filepath.Join(d.Dir, "mail", user)
	mkdirs(t, home)
	d.runAs.chown(t, home)
	// Write then rename, so Dovecot never reads a half-written file. The
	// auth process runs as default_internal_user and must read it.
	tmp := filepath.Join(d.Dir, "passwd.tmp")
	writeFile(t, tmp, user+":{PLAIN}"+password+"::::::\n", 0o644)
	if err := os.Rename(tmp, filepath.Join(d.passwdDir, user)); err != nil {
		t.Fatalf("testenv: dovecot: %v", err)
	}
	return user, password
}

// randomSecret returns 24 random hex characters (safe in any config file).
func randomSecret(t testing.TB) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}
