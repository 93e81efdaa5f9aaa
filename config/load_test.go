package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const minimal = `
accounts:
	- name: home
	  mail:
	    imap: {host: imap.example.com, username: me, password_env: PW}
`

func TestLoadAppliesDefaults(t *testing.T) {
	home := isolate(t)
	c := mustLoad(t, minimal)
	data := filepath.Join(home, ".local", "share", "holdover")
	want := &Config{
		DataDir: data,
		Listen: Listen{
			Control: filepath.Join(data, "holdover.sock"),
			HTTP:    "127.0.0.1:7878",
			SMTP:    "127.0.0.1:1587",
			IMAP:    "127.0.0.1:1143",
			CalDAV:  "127.0.0.1:5233",
		},
		Log: Log{Level: "info", Format: "text"},
		Accounts: []Account{{
			Name: "home",
			Mail: &Mail{
				IMAP:        &Server{Host: "imap.example.com", Port: 993, TLS: "tls", Username: "me", Secret: Secret{PasswordEnv: "PW"}},
				SaveSent:    "auto",
				Folders:     Folders{Include: []string{"*"}},
				Idle:        []string{"INBOX"},
				Connections: 3,
				Timeout:     20 * time.Second,
				Poll:        30 * time.Second,
			},
		}},
		Outbox: Outbox{KeepDone: 30 * 24 * time.Hour},
		Sync:   Sync{Interval: 5 * time.Minute, Verify: 24 * time.Hour},
	}
	got := *c
	got.origins, got.info = nil, loadInfo{}
	if !reflect.DeepEqual(&got, want) {
		t.Errorf("Load:\n got %+v\nwant %+v", got, *want)
	}
	if c.DBPath() != filepath.Join(data, "holdover.db") {
		t.Errorf("DBPath = %q", c.DBPath())
	}
	if c.ControlSocket() != filepath.Join(data, "holdover.sock") {
		t.Errorf("ControlSocket = %q", c.ControlSocket())
	}
}

func TestLoadDefaultsDependOnContext(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T)
		yaml  string
		check func(t *testing.T, c *Config)
	}{
		{
			name:  "data_dir follows XDG_DATA_HOME",
			setup: func(t *testing.T) { t.Setenv("XDG_DATA_HOME", "/xdg/data") },
			yaml:  minimal,
			check: func(t *testing.T, c *Config) {
				if c.DataDir != "/xdg/data/holdover" || c.ControlSocket() != "/xdg/data/holdover/holdover.sock" {
					t.Errorf("DataDir = %q, control = %q", c.DataDir, c.ControlSocket())
				}
			},
		},
		{
			name:  "relative XDG_DATA_HOME is ignored",
			setup: func(t *testing.T) { t.Setenv("XDG_DATA_HOME", "rel/data") },
			yaml:  minimal,
			check: func(t *testing.T, c *Config) {
				if !strings.HasSuffix(c.DataDir, "/.local/share/holdover") {
					t.Errorf("DataDir = %q", c.DataDir)
				}
			},
		},
		{
			name: "ports default by protocol and tls mode",
			yaml: `
accounts:
	- name: a
	  mail:
	    imap: {host: h, tls: starttls, username: u, password_env: P}
	    smtp: {host: h, username: u, password_env: P}
	- name: b
	  mail:
	    imap: {host: h, username: u, password_env: P}
	    smtp: {host: h, tls: starttls, username: u, password_env: P}
`,
			check: func(t *testing.T, c *Config) {
				a, _ := c.Account("a")
				b, _ := c.Account("b")
				got := []int{a.Mail.IMAP.Port, a.Mail.SMTP.Port, b.Mail.IMAP.Port, b.Mail.SMTP.Port}
				if want := []int{143, 465, 993, 587}; !reflect.DeepEqual(got, want) {
					t.Errorf("ports = %v, want %v", got, want)
				}
			},
		},
		{
			name: "tilde paths are expanded and cleaned",
			yaml: `
data_dir: ~/state/
listen: {control: ~/run/h.sock}
accounts:
	- name: a
	  files:
	    webdav: {url: https://dav.example.com/, username: u, password_file: ~/.pw}
	    local_dir: ~/Sync/a/
`,
			check: func(t *testing.T, c *Config) {
				home, _ := os.UserHomeDir()
				got := []string{c.DataDir, c.Listen.Control, c.Accounts[0].Files.WebDAV.PasswordFile, c.Accounts[0].Files.LocalDir}
				want := []string{home + "/state", home + "/run/h.sock", home + "/.pw", home + "/Sync/a"}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("paths = %q, want %q", got, want)
				}
			},
		},
		{
			name: "empty listen addresses disable the listeners",
			yaml: "listen: {http: \"\", smtp: ~}\n" + minimal,
			check: func(t *testing.T, c *Config) {
				if c.Listen.HTTP != "" || c.Listen.SMTP != "" {
					t.Errorf("listen = %+v", c.Listen)
				}
			},
		},
		{
			name: "empty folder include means every folder",
			yaml: `
accounts:
	- name: a
	  mail:
	    imap: {host: h, username: u, password_env: P}
	    folders: {include: [], exclude: [Junk]}
`,
			check: func(t *testing.T, c *Config) {
				if f := c.Accounts[0].Mail.Folders; !reflect.DeepEqual(f.Include, []string{"*"}) || !reflect.DeepEqual(f.Exclude, []string{"Junk"}) {
					t.Errorf("folders = %+v", f)
				}
			},
		},
		{
			name: "YAML merge keys share settings between accounts",
			yaml: `
accounts:
	- name: a
	  mail: {imap: &imap {host: imap.example.com, username: me, password_env: PW}}
	- name: b
	  mail: {imap: {<<: *imap, port: 1993}}
`,
			check: func(t *testing.T, c *Config) {
				a, b := c.Accounts[0].Mail.IMAP, c.Accounts[1].Mail.IMAP
				if b.Host != "imap.example.com" || b.Port != 1993 || a.Port != 993 || b.PasswordEnv != "PW" {
					t.Errorf("a = %+v, b = %+v", a, b)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			if tt.setup != nil {
				tt.setup(t)
			}
			tt.check(t, mustLoad(t, tt.yaml))
		})
	}
}

func TestExampleConfigLoads(t *testing.T) {
	home := isolate(t)
	c, err := Load("../examples/config.yaml")
	if err != nil {
		t.Fatalf("examples/config.yaml does not validate:\n%v", err)
	}
	if c.DataDir != filepath.Join(home, ".local/share/holdover") {
		t.Errorf("DataDir = %q", c.DataDir)
	}
	work, ok := c.Account("work")
	if !ok || work.Mail == nil || work.Calendar == nil || work.Files == nil {
		t.Fatalf("account work = %+v", work)
	}
	sources := []string{work.Mail.IMAP.Source(), work.Mail.SMTP.Source(), work.Calendar.CalDAV.Source()}
	if want := []string{"command", "file /run/secrets/mail", "env DAV_PASSWORD"}; !reflect.DeepEqual(sources, want) {
		t.Errorf("sources = %q, want %q", sources, want)
	}
	if work.Files.LocalDir != filepath.Join(home, "Holdover/work") {
		t.Errorf("local_dir = %q", work.Files.LocalDir)
	}
}

func TestLoadFileErrors(t *testing.T) {
	isolate(t)
	t.Run("missing file wraps fs.ErrNotExist", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "nope.yaml")
		_, err := Load(p)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
		}
		if got, want := err.Error(), p+": configuration file does not exist"; got != want {
			t.Errorf("error = %q, want %q", got, want)
		}
	})
	t.Run("unreadable file names the path", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("running as root: a mode 000 file is still readable, so permission denied cannot be provoked")
		}
		p := writeConfig(t, minimal)
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		if !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), p) || strings.Contains(err.Error(), "\n") {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("directory is refused", func(t *testing.T) {
		d := t.TempDir()
		_, err := Load(d)
		if err == nil || err.Error() != d+": cannot read configuration file: is a directory, not a file" {
			t.Errorf("error = %v", err)
		}
	})
	t.Run("empty path", func(t *testing.T) {
		if _, err := Load(""); err == nil {
			t.Error("Load(\"\") succeeded")
		}
	})
}

func TestDefaultPath(t *testing.T) {
	tests := []struct {
		name                  string
		env, xdg, home, wantF string
	}{
		{"HOLDOVER_CONFIG wins", "/etc/h.yaml", "/xdg", "/home/u", "/etc/h.yaml"},
		{"XDG_CONFIG_HOME next", "", "/xdg", "/home/u", "/xdg/holdover/config.yaml"},
		{"relative XDG_CONFIG_HOME ignored", "", "rel", "/home/u", "/home/u/.config/holdover/config.yaml"},
		{"home last", "", "", "/home/u", "/home/u/.config/holdover/config.yaml"},
		{"nothing known", "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HOLDOVER_CONFIG", tt.env)
			t.Setenv("XDG_CONFIG_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			if got := DefaultPath(); got != tt.wantF {
				t.Errorf("DefaultPath() = %q, want %q", got, tt.wantF)
			}
		})
	}
}

func TestOriginsNameAccountsAndSkipDefaults(t *testing.T) {
	isolate(t)
	p := writeConfig(t, `
data_dir: /var/lib/holdover
accounts:
	- name: zed
	  mail:
	    imap: {host: h, username: u, password_env: P}
	- name: work
	  mail:
	    imap:
	      host: imap.example.com
	      port: 143
	      tls: starttls
	      username: u
	      password_env: P
	    folders: {include: [INBOX, "Lists/*"]}
`)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	for path, line := range map[string]int{
		"data_dir":                              2,
		"accounts":                              3,
		"accounts.zed":                          4,
		"accounts.work":                         7,
		"accounts.work.name":                    7,
		"accounts.work.mail.imap.port":          11,
		"accounts.work.mail.folders.include[1]": 15,
	} {
		pos, ok := c.Origin(path)
		if !ok || pos.Line != line || pos.File != p {
			t.Errorf("Origin(%q) = %v, %v; want line %d", path, pos, ok, line)
		}
	}
	for _, path := range []string{"accounts.zed.mail.imap.port", "log.level", "accounts[1].name"} {
		if pos, ok := c.Origin(path); ok {
			t.Errorf("Origin(%q) = %v, want none (defaulted or renamed)", path, pos)
		}
	}
}

func TestMarshalRoundTrips(t *testing.T) {
	isolate(t)
	c, err := Load("../examples/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c.Listen.SMTP = "" // a disabled listener must stay disabled
	out, err := Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	c2 := mustLoad(t, string(out))
	c.origins, c2.origins = nil, nil
	c.info, c2.info = loadInfo{}, loadInfo{}
	if !reflect.DeepEqual(c, c2) {
		t.Errorf("Marshal output loads differently:\n%s\n got %#v\nwant %#v", out, c2, c)
	}
}

func TestRedactedHidesCommandsOnly(t *testing.T) {
	isolate(t)
	c := mustLoad(t, `
accounts:
	- name: a
	  mail:
	    imap: {host: h, username: u, password_command: "echo hunter2"}
	    smtp: {host: h, username: u, password_file: /run/secrets/pw}
	  calendar:
	    caldav: {url: https://dav.example.com/, username: u, password_command: "echo hunter2"}
	  files:
	    webdav: {url: https://dav.example.com/f/, username: u, password_env: PW}
	    local_dir: /srv/a
`)
	r := c.Redacted()
	out, err := Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if strings.Contains(s, "hunter2") || strings.Count(s, "<redacted>") != 2 {
		t.Errorf("redacted output:\n%s", s)
	}
	for _, keep := range []string{"/run/secrets/pw", "password_env: PW"} {
		if !strings.Contains(s, keep) {
			t.Errorf("redacted output lacks %q:\n%s", keep, s)
		}
	}
	// The copy is deep: the original still has its commands.
	if c.Accounts[0].Mail.IMAP.PasswordCommand != "echo hunter2" || c.Accounts[0].Calendar.CalDAV.PasswordCommand != "echo hunter2" {
		t.Error("Redacted modified the original")
	}
	r.Accounts[0].Mail.Folders.Include[0] = "changed"
	if c.Accounts[0].Mail.Folders.Include[0] != "*" {
		t.Error("Redacted shares folder slices with the original")
	}
	if pos, ok := r.Origin("accounts.a.mail.imap"); !ok || pos.Line != 5 {
		t.Errorf("Redacted lost origins: %v %v", pos, ok)
	}
}

func TestAccountLookup(t *testing.T) {
	isolate(t)
	c := mustLoad(t, minimal)
	if a, ok := c.Account("home"); !ok || a != &c.Accounts[0] {
		t.Errorf("Account(home) = %v, %v", a, ok)
	}
	if _, ok := c.Account("nope"); ok {
		t.Error("Account(nope) found")
	}
}

func TestLoadWithoutHome(t *testing.T) {
	isolate(t)
	t.Setenv("HOME", "")
	p := writeConfig(t, `
accounts:
	- name: a
	  files:
	    webdav: {url: "https://dav.example.com/", username: u, password_env: P}
	    local_dir: ~/Sync
`)
	_, err := Load(p)
	// Problems without a line come last.
	want := p + `:6: accounts[0].files.local_dir: cannot expand "~": $HOME is not set` + "\n" +
		p + ": data_dir: not set, and no default: $XDG_DATA_HOME and $HOME are unset"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
}

func TestLoadPartialReturnsWhatItCanAlongsideTheErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.yaml")
	text := "data_dir: " + dir + "/data\naccounts:\n  - name: work\n    bogus: 1\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := LoadPartial(path)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("err = %v, want the unknown key reported", err)
	}
	if c == nil || c.DataDir != dir+"/data" || c.ControlSocket() != dir+"/data/holdover.sock" {
		t.Fatalf("partial config = %+v", c)
	}
	if full, err := Load(path); full != nil || err == nil {
		t.Fatal("Load returned a config for a broken file")
	}
	if c, err := LoadPartial(filepath.Join(dir, "missing.yaml")); c != nil || err == nil {
		t.Fatal("LoadPartial of a missing file returned a config")
	}
}
