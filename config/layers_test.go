package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// layered writes files (paths relative to a fresh directory, tabs turned
// into two spaces) and returns the Sources of its "etc" directory and
// "home/config.yaml".
func layered(t *testing.T, files map[string]string) (Sources, string) {
	t.Helper()
	isolate(t)
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return Sources{SystemDir: filepath.Join(dir, "etc"), User: filepath.Join(dir, "home", "config.yaml")}, dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(strings.ReplaceAll(text, "\t", "  ")), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func mustLoadSources(t *testing.T, s Sources) *Config {
	t.Helper()
	c, err := LoadSources(s)
	if err != nil {
		t.Fatalf("LoadSources: unexpected error:\n%v", err)
	}
	return c
}

// wantOrigin checks that key was set at file:line.
func wantOrigin(t *testing.T, c *Config, key, file string, line int) {
	t.Helper()
	if p, ok := c.Origin(key); !ok || p.File != file || p.Line != line {
		t.Errorf("Origin(%q) = %v, %v; want %s:%d", key, p, ok, file, line)
	}
}

// wantErrs checks that err is an ErrorList holding exactly the given
// messages, as "file:line: path: msg" substrings, in order.
func wantErrs(t *testing.T, err error, want ...string) {
	t.Helper()
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error = %v, want an ErrorList", err)
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if !strings.Contains(list[i].Error(), w) {
			t.Errorf("error %d = %q, want it to contain %q", i, list[i].Error(), w)
		}
	}
}

func TestLayersMergeLowestFirst(t *testing.T) {
	s, dir := layered(t, map[string]string{
		"etc/config.yaml": `data_dir: /var/lib/holdover
log: {level: warn, format: json}
accounts:
	- name: work
	  mail:
	    imap: {host: imap.corp.example, username: me, password_credential: work-imap}
	    folders: {include: [INBOX, Lists]}
`,
		"etc/conf.d/10-extra.yaml": `log: {level: info}
accounts:
	- name: extra
	  mail: {imap: {host: imap.extra.example, username: x, password_env: X}}
`,
		"etc/conf.d/20-port.yaml": `accounts:
	- name: work
	  mail:
	    imap: {port: 1993}
	    folders: {include: [Projects]}
`,
		"home/config.yaml": `log: {format: text}
accounts:
	- name: home
	  mail: {imap: {host: imap.home.example, username: me, password_env: HOME_PW}}
	- name: work
	  mail: {imap: {password_env: WORK_PW}}
`,
		// Not drop-ins: each would fail to load.
		"etc/conf.d/.hidden.yaml":          "bogus: 1\n",
		"etc/conf.d/.20-port.yaml.swp":     "bogus: 1\n",
		"etc/conf.d/20-port.yaml~":         "bogus: 1\n",
		"etc/conf.d/20-port.yaml.dpkg-old": "bogus: 1\n",
		"etc/conf.d/README":                "bogus: 1\n",
		"etc/conf.d/30-typo.yml":           "bogus: 1\n",
	})
	c := mustLoadSources(t, s)
	sys, d10, d20, user := s.SystemDir+"/config.yaml", s.SystemDir+"/conf.d/10-extra.yaml", s.SystemDir+"/conf.d/20-port.yaml", s.User
	if want := []string{sys, d10, d20, user}; !reflect.DeepEqual(c.Files(), want) {
		t.Errorf("Files() = %q, want %q", c.Files(), want)
	}
	if c.Log.Level != "info" || c.Log.Format != "text" || c.DataDir != "/var/lib/holdover" {
		t.Errorf("log = %+v, data_dir = %q", c.Log, c.DataDir)
	}
	var names []string
	for _, a := range c.Accounts {
		names = append(names, a.Name)
	}
	if want := []string{"work", "extra", "home"}; !reflect.DeepEqual(names, want) {
		t.Errorf("accounts = %q, want %q", names, want)
	}
	work, _ := c.Account("work")
	imap := work.Mail.IMAP
	// The user's password_env replaces the system's credential: one
	// source only.
	if imap.Host != "imap.corp.example" || imap.Port != 1993 || imap.PasswordEnv != "WORK_PW" || imap.PasswordCredential != "" {
		t.Errorf("work imap = %+v", imap)
	}
	if !reflect.DeepEqual(work.Mail.Folders.Include, []string{"Projects"}) {
		t.Errorf("folders.include = %q, want the list replaced whole", work.Mail.Folders.Include)
	}
	wantOrigin(t, c, "data_dir", sys, 1)
	wantOrigin(t, c, "log.level", d10, 1)
	wantOrigin(t, c, "log.format", user, 1)
	wantOrigin(t, c, "accounts.work", sys, 4)
	wantOrigin(t, c, "accounts.work.name", sys, 4)
	wantOrigin(t, c, "accounts.work.mail.imap.host", sys, 6)
	wantOrigin(t, c, "accounts.work.mail.imap.port", d20, 4)
	wantOrigin(t, c, "accounts.work.mail.imap.password_env", user, 6)
	wantOrigin(t, c, "accounts.work.mail.folders.include", d20, 5)
	wantOrigin(t, c, "accounts.extra.mail.imap.host", d10, 4)
	for _, gone := range []string{"accounts.work.mail.imap.password_credential", "accounts.work.mail.folders.include[1]"} {
		if p, ok := c.Origin(gone); ok {
			t.Errorf("Origin(%q) = %v, want none: the layer above replaced it", gone, p)
		}
	}
	w := c.Warnings()
	if len(w) != 1 || w[0].Error() != dir+"/etc/conf.d/30-typo.yml: not read: only files ending in .yaml are read from conf.d" {
		t.Errorf("warnings = %v", w)
	}
}

func TestDropInsApplyInLexicalOrder(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/conf.d/9-b.yaml":  "log: {level: debug}\n",
		"etc/conf.d/10-a.yaml": "log: {level: error}\n" + minimal,
	})
	c := mustLoadSources(t, s)
	if c.Log.Level != "debug" { // "10-a" sorts before "9-b"
		t.Errorf("log.level = %q, want debug from 9-b.yaml", c.Log.Level)
	}
}

func TestUserFileIsOptionalOnlyWithSystemLayers(t *testing.T) {
	s, _ := layered(t, map[string]string{"etc/conf.d/10-a.yaml": minimal})
	c := mustLoadSources(t, s) // home/config.yaml does not exist
	if len(c.Files()) != 1 {
		t.Errorf("Files() = %q", c.Files())
	}
	if c := mustLoadSources(t, Sources{SystemDir: s.SystemDir}); len(c.Accounts) != 1 {
		t.Errorf("no user file: accounts = %v", c.Accounts)
	}
	_, err := LoadSources(Sources{SystemDir: filepath.Join(s.SystemDir, "nope"), User: s.User})
	if !errors.Is(err, fs.ErrNotExist) || err.Error() != s.User+": configuration file does not exist" {
		t.Errorf("no layer at all: error = %v", err)
	}
	if _, err := LoadSources(Sources{SystemDir: filepath.Join(s.SystemDir, "nope")}); err == nil {
		t.Error("no file and no user path: no error")
	}
}

func TestSystemFileGivenAsUserFileIsReadOnce(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml":      "managed: [log.level]\nlog: {level: warn}\n" + minimal,
		"etc/conf.d/10-a.yaml": "log: {format: json}\n",
	})
	// A system service: --config /etc/holdover/config.yaml. It stays the
	// system file (managed: is allowed) and is not applied again last.
	s.User = filepath.Join(s.SystemDir, ".", "config.yaml")
	c := mustLoadSources(t, s)
	if len(c.Files()) != 2 || c.Log.Format != "json" || c.Log.Level != "warn" {
		t.Errorf("Files() = %q, log = %+v", c.Files(), c.Log)
	}
}

func TestHoldoverSystemDirIsUsedByLoad(t *testing.T) {
	s, _ := layered(t, map[string]string{"etc/config.yaml": minimal, "home/config.yaml": "log: {level: debug}\n"})
	t.Setenv("HOLDOVER_SYSTEM_DIR", s.SystemDir)
	if SystemDir() != s.SystemDir {
		t.Fatalf("SystemDir() = %q", SystemDir())
	}
	c, err := Load(s.User)
	if err != nil || len(c.Accounts) != 1 || c.Log.Level != "debug" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	t.Setenv("HOLDOVER_SYSTEM_DIR", "")
	if SystemDir() != "/etc/holdover" {
		t.Errorf("default SystemDir() = %q", SystemDir())
	}
}

func TestNullInALaterLayerResetsToDefault(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml": `listen: {http: 127.0.0.1:9000}
sync: {interval: 1h}
accounts:
	- name: work
	  mail:
	    imap: {host: h, port: 1993, username: u, password_env: P}
	    smtp: {host: h, username: u, password_env: P}
`,
		"home/config.yaml": `sync: {interval: ~}
accounts:
	- name: work
	  mail: {smtp: ~, imap: {port: ~}}
`,
	})
	c := mustLoadSources(t, s)
	if c.Sync.Interval != defaultInterval || c.Listen.HTTP != "127.0.0.1:9000" || c.Accounts[0].Mail.SMTP != nil || c.Accounts[0].Mail.IMAP.Port != 993 {
		t.Errorf("interval = %v, http = %q, mail = %+v", c.Sync.Interval, c.Listen.HTTP, c.Accounts[0].Mail)
	}
	if _, ok := c.Origin("accounts.work.mail.smtp.host"); ok {
		t.Error("the removed smtp block kept its origins")
	}
}

func TestRemoveAccount(t *testing.T) {
	sys := `accounts:
	- name: work
	  mail: {imap: {host: h, username: u, password_env: P}}
	- name: home
	  mail: {imap: {host: h, username: u, password_env: P}}
`
	t.Run("removes by name", func(t *testing.T) {
		s, _ := layered(t, map[string]string{
			"etc/config.yaml":  sys,
			"home/config.yaml": "accounts:\n  - {name: work, remove: true}\n  - {name: ghost, remove: true}\n",
		})
		c := mustLoadSources(t, s)
		if len(c.Accounts) != 1 || c.Accounts[0].Name != "home" {
			t.Errorf("accounts = %+v", c.Accounts)
		}
		if _, ok := c.Origin("accounts.work"); ok {
			t.Error("removed account kept its origins")
		}
		w := c.Warnings()
		if len(w) != 1 || w[0].Error() != s.User+`:3: accounts.ghost: remove: true: no earlier file defines account "ghost"; nothing to remove` {
			t.Errorf("warnings = %v", w)
		}
	})
	t.Run("removing the last account names the file and line", func(t *testing.T) {
		s, _ := layered(t, map[string]string{
			"etc/config.yaml":          sys,
			"etc/conf.d/50-none.yaml":  "# decommissioned\naccounts:\n  - name: work\n    remove: true\n  - name: home\n    remove: yes\n",
			"etc/conf.d/40-other.yaml": "log: {level: debug}\n",
		})
		_, err := LoadSources(s)
		wantErrs(t, err, s.SystemDir+`/conf.d/50-none.yaml:6: accounts: remove: true removes account "home", the last one`)
	})
	t.Run("remove with other keys is an error", func(t *testing.T) {
		s, _ := layered(t, map[string]string{
			"etc/config.yaml":  sys,
			"home/config.yaml": "accounts:\n  - name: work\n    remove: true\n    mail: {imap: {port: 1}}\n  - name: home\n    remove: maybe\n",
		})
		_, err := LoadSources(s)
		wantErrs(t, err,
			s.User+`:3: accounts.work: remove: true removes account "work" whole; drop the other keys of the item (mail, line 4)`,
			s.User+`:6: accounts[1].remove: expected a boolean (true or false), got string "maybe"`)
	})
}

func TestValidationCitesTheLayerThatSetTheValue(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml": `accounts:
	- name: a
	  mail: {imap: {host: h, username: u, password_env: P}}
	- name: work
	  mail: {imap: {host: h, username: u, password_env: P}}
`,
		"etc/conf.d/10-port.yaml": `accounts:
	- name: work
	  mail:
	    imap: {port: 99999}
`,
		"home/config.yaml": "sync: {interval: 1s}\n",
	})
	_, err := LoadSources(s)
	// accounts[0] counts as in 10-port.yaml, where "work" is the first item.
	wantErrs(t, err,
		s.SystemDir+"/conf.d/10-port.yaml:4: accounts[0].mail.imap.port: invalid port 99999",
		s.User+":1: sync.interval: 1s is too short")
}

func TestBadDropIns(t *testing.T) {
	sys := map[string]string{"etc/config.yaml": minimal}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range sys {
			m[k] = v
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	t.Run("syntax error in one drop-in", func(t *testing.T) {
		s, _ := layered(t, with(map[string]string{
			"etc/conf.d/10-ok.yaml":  "log: {level: debug}\n",
			"etc/conf.d/20-bad.yaml": "log:\n  level: debug\n format: json\n",
		}))
		_, err := LoadSources(s)
		wantErrs(t, err, s.SystemDir+"/conf.d/20-bad.yaml:3: YAML syntax error: did not find expected key")
	})
	t.Run("unknown key in a drop-in", func(t *testing.T) {
		s, _ := layered(t, with(map[string]string{
			"etc/conf.d/10-typo.yaml": "sync:\n  intervall: 5m\n",
		}))
		_, err := LoadSources(s)
		wantErrs(t, err, s.SystemDir+`/conf.d/10-typo.yaml:2: sync: unknown key "intervall" (did you mean "interval"?)`)
	})
	t.Run("half-written file", func(t *testing.T) {
		s, _ := layered(t, with(map[string]string{
			"home/config.yaml": "log: {level: debug}\naccounts:\n  - name: two\n    mail:\n      imap: {host: imap.exa",
		}))
		_, err := LoadSources(s)
		wantErrs(t, err, s.User+":5: YAML syntax error")
	})
	t.Run("permission denied", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: a mode 000 file is still readable, so permission denied cannot be provoked")
		}
		s, _ := layered(t, with(map[string]string{"etc/conf.d/10-secret.yaml": "log: {level: debug}\n"}))
		p := s.SystemDir + "/conf.d/10-secret.yaml"
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSources(s)
		if !errors.Is(err, fs.ErrPermission) {
			t.Errorf("errors.Is(err, fs.ErrPermission) = false for %v", err)
		}
		wantErrs(t, err, p+": cannot read configuration file: permission denied")
	})
	t.Run("symlink loop", func(t *testing.T) {
		s, _ := layered(t, sys)
		confd := s.SystemDir + "/conf.d"
		os.MkdirAll(confd, 0o755)
		if err := os.Symlink("b.yaml", confd+"/a.yaml"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("a.yaml", confd+"/b.yaml"); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSources(s)
		wantErrs(t, err,
			confd+"/a.yaml: cannot read configuration file: too many levels of symbolic links",
			confd+"/b.yaml: cannot read configuration file: too many levels of symbolic links")
	})
	t.Run("broken symlink", func(t *testing.T) {
		s, _ := layered(t, sys)
		os.MkdirAll(s.SystemDir+"/conf.d", 0o755)
		if err := os.Symlink("gone.conf", s.SystemDir+"/conf.d/10-gone.yaml"); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSources(s)
		wantErrs(t, err, s.SystemDir+"/conf.d/10-gone.yaml: cannot read configuration file: broken symbolic link")
	})
	t.Run("directory named like a drop-in", func(t *testing.T) {
		s, _ := layered(t, sys)
		if err := os.MkdirAll(s.SystemDir+"/conf.d/10-dir.yaml", 0o755); err != nil {
			t.Fatal(err)
		}
		_, err := LoadSources(s)
		wantErrs(t, err, s.SystemDir+"/conf.d/10-dir.yaml: cannot read configuration file: is a directory, not a file")
	})
	t.Run("conf.d is a file", func(t *testing.T) {
		s, _ := layered(t, with(map[string]string{"etc/conf.d": "log: {level: debug}\n"}))
		_, err := LoadSources(s)
		wantErrs(t, err, s.SystemDir+"/conf.d: cannot read drop-in directory: not a directory")
	})
}

func TestLoadPartialSkipsBrokenLayers(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml":        "data_dir: /srv/holdover\n" + minimal,
		"etc/conf.d/20-bad.yaml": "log: [\n",
	})
	t.Setenv("HOLDOVER_SYSTEM_DIR", s.SystemDir)
	c, err := LoadPartial(s.User)
	if c == nil || c.DataDir != "/srv/holdover" {
		t.Fatalf("LoadPartial = %+v", c)
	}
	wantErrs(t, err, s.SystemDir+"/conf.d/20-bad.yaml:")
}
