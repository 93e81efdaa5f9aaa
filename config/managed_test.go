package config

import (
	"reflect"
	"strings"
	"testing"
)

const managedSys = `managed:
	- sync.interval
	- accounts.work.mail.smtp
	- listen.http
sync: {interval: 10m}
accounts:
	- name: work
	  mail:
	    imap: {host: imap.corp.example, username: me@corp.example, password_credential: work-imap}
	    smtp: {host: smtp.corp.example, username: me, password_credential: work-smtp}
`

func warningStrings(c *Config) []string {
	var out []string
	for _, w := range c.Warnings() {
		out = append(out, w.Error())
	}
	return out
}

func TestManagedKeysCannotBeChangedLater(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml": managedSys,
		"etc/conf.d/50-local.yaml": `sync: {interval: 20m}
`,
		"home/config.yaml": `sync: {interval: 1m}
listen: {http: 127.0.0.1:7878, smtp: ""}
accounts:
	- name: work
	  mail:
	    imap: {port: 1993}
	    smtp: {host: smtp.evil.example, username: me}
`,
	})
	c := mustLoadSources(t, s)
	sys, dropin := s.SystemDir+"/config.yaml", s.SystemDir+"/conf.d/50-local.yaml"
	work, _ := c.Account("work")
	if c.Sync.Interval.String() != "10m0s" || work.Mail.SMTP.Host != "smtp.corp.example" || work.Mail.IMAP.Port != 1993 || c.Listen.SMTP != "" {
		t.Errorf("interval %v, smtp %+v, imap %+v, listen %+v", c.Sync.Interval, work.Mail.SMTP, work.Mail.IMAP, c.Listen)
	}
	want := []string{
		dropin + ":1: sync.interval: managed by " + sys + ":2; the value here is ignored",
		s.User + ":1: sync.interval: managed by " + sys + ":2; the value here is ignored",
		// A managed key left at its default is managed too, even when a
		// later layer writes that default.
		s.User + ":2: listen.http: managed by " + sys + ":4; the value here is ignored",
		s.User + ":7: accounts.work.mail.smtp.host: managed as part of accounts.work.mail.smtp by " + sys + ":3; the value here is ignored",
	}
	// smtp.username repeats the managed value: no warning.
	if got := warningStrings(c); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantOrigin(t, c, "sync.interval", sys, 5)
	if p, ok := c.ManagedBy("accounts.work.mail.smtp.port"); !ok || p.Line != 3 {
		t.Errorf("ManagedBy(smtp.port) = %v, %v", p, ok)
	}
	if _, ok := c.ManagedBy("accounts.work.mail.imap.port"); ok {
		t.Error("imap.port reported managed")
	}
}

func TestManagedPasswordSourceAndAccounts(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml": `managed: [accounts.work.mail.imap.password_credential, accounts]
accounts:
	- name: work
	  mail: {imap: {host: h, username: u, password_credential: work-imap}}
	- name: spare
	  mail: {imap: {host: h, username: u, password_env: P}}
`,
		"home/config.yaml": `accounts:
	- name: work
	  mail: {imap: {password_env: MINE}}
	- name: spare
	  remove: true
	- name: mine
	  mail: {imap: {host: h, username: u, password_env: P}}
`,
	})
	c := mustLoadSources(t, s)
	sys := s.SystemDir + "/config.yaml"
	if len(c.Accounts) != 2 || c.Accounts[0].Mail.IMAP.Source() != "credential work-imap" {
		t.Errorf("accounts = %+v", c.Accounts)
	}
	want := []string{
		s.User + ":3: accounts.work.mail.imap.password_env: managed as part of accounts by " + sys + ":1; the value here is ignored",
		s.User + `:5: accounts.spare: account "spare" is not removed: accounts is managed by ` + sys + ":1",
		s.User + `:6: accounts.mine: account "mine" is not added: accounts is managed by ` + sys + ":1",
	}
	if got := warningStrings(c); !reflect.DeepEqual(got, want) {
		t.Errorf("warnings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestManagedErrors(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml": `managed:
	- sync.intervall
	- accounts.work.mail.imap.prot
	- accounts.Work
	- accounts.nobody.mail
	- accounts.work.mail.folders.include[0]
	- log.level.x
` + minimal[1:],
		"etc/conf.d/10-ok.yaml": "managed: [accounts.home]\n",
		"home/config.yaml":      "managed: [log.level]\n",
	})
	sys := s.SystemDir + "/config.yaml"
	_, err := LoadSources(s)
	wantErrs(t, err,
		sys+`:2: managed: unknown key path "sync.intervall": no key "intervall" in sync (did you mean "interval"?)`,
		sys+`:3: managed: unknown key path "accounts.work.mail.imap.prot": no key "prot" in accounts.work.mail.imap (did you mean "port"?)`,
		sys+`:4: managed: unknown key path "accounts.Work": "Work" is not an account name`,
		sys+`:5: managed: accounts.nobody.mail: no account is named "nobody"`,
		sys+`:6: managed: unknown key path "accounts.work.mail.folders.include[0]": no key "include[0]"`,
		sys+`:7: managed: unknown key path "log.level.x": log.level has no keys below it`,
		s.User+":1: managed: managed: is only allowed in the system configuration",
	)
}

func TestEffectiveListsEverySettingWithItsOrigin(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/config.yaml": managedSys,
		"home/config.yaml": `accounts:
	- name: work
	  mail:
	    imap: {port: 1993, password_command: "pass show hunter2"}
	    folders: {include: [INBOX, "Lists/*"]}
`,
	})
	c := mustLoadSources(t, s)
	sys := s.SystemDir + "/config.yaml"
	got := map[string]Setting{}
	var keys []string
	for _, st := range c.Effective() {
		got[st.Key] = st
		keys = append(keys, st.Key)
		if strings.Contains(st.Value, "hunter2") {
			t.Errorf("%s = %s: password command not redacted", st.Key, st.Value)
		}
	}
	for _, want := range []Setting{
		{Key: "sync.interval", Value: "10m0s", Origin: Position{sys, 5, 0}, Managed: true},
		{Key: "listen.http", Value: "127.0.0.1:7878", Default: true, Managed: true},
		{Key: "log.level", Value: "info", Default: true},
		{Key: "accounts.work.mail.imap.port", Value: "1993", Origin: Position{s.User, 4, 0}},
		{Key: "accounts.work.mail.imap.password_command", Value: "<redacted>", Origin: Position{s.User, 4, 0}},
		{Key: "accounts.work.mail.folders.include", Value: `[INBOX, Lists/*]`, Origin: Position{s.User, 5, 0}},
		{Key: "accounts.work.mail.smtp.host", Value: "smtp.corp.example", Origin: Position{sys, 10, 0}, Managed: true},
	} {
		g := got[want.Key]
		g.Origin.Column = 0
		if g != want {
			t.Errorf("%s:\n got %+v\nwant %+v", want.Key, g, want)
		}
	}
	for _, absent := range []string{"accounts.work.mail.imap.password_credential", "accounts.work.mail.folders.exclude", "listen.control"} {
		if st, ok := got[absent]; ok && absent != "listen.control" {
			t.Errorf("%s listed: %+v", absent, st)
		}
	}
	if keys[0] != "data_dir" || keys[len(keys)-1] != "sync.verify" {
		t.Errorf("order: %q", keys)
	}
}
