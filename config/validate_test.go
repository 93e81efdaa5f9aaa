package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

type wantErr struct {
	line int    // 0: no line
	path string // exact Error.Path
	msg  string // substring of Error.Msg
}

// imapOK is a valid imap block body for building cases.
const imapOK = "host: imap.example.com, username: me, password_env: PW"

func TestLoadReportsProblemsAtTheirLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{
		{
			name: "unknown key at a nested level",
			yaml: `
accounts:
	- name: work
	  mail:
	    imap:
	      host: imap.example.com
	      prot: 993
	      username: me
	      password_env: PW
`,
			want: []wantErr{{7, "accounts[0].mail.imap", `unknown key "prot" (did you mean "port"?)`}},
		},
		{
			name: "every unknown key is reported",
			yaml: `
datadir: /var/lib/holdover
accounts:
	- name: work
	  colour: blue
	  mail:
	    imap: {` + imapOK + `}
`,
			want: []wantErr{
				{2, "", `unknown key "datadir" (did you mean "data_dir"?)`},
				{5, "accounts[0]", `unknown key "colour"`},
			},
		},
		{
			name: "duplicate account name cites both lines",
			yaml: `
accounts:
	- name: work
	  mail: {imap: {` + imapOK + `}}
	- name: work
	  mail: {imap: {` + imapOK + `}}
`,
			want: []wantErr{{5, "accounts[1].name", `duplicate account name "work" (first defined at line 3)`}},
		},
		{
			name: "invalid account name",
			yaml: "accounts:\n\t- name: Work Mail\n\t  mail: {imap: {" + imapOK + "}}\n",
			want: []wantErr{{2, "accounts[0].name", `invalid account name "Work Mail"`}},
		},
		{
			name: "missing account name",
			yaml: "accounts:\n\t- mail: {imap: {" + imapOK + "}}\n",
			want: []wantErr{{2, "accounts[0]", "name is required"}},
		},
		{
			name: "port out of range",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: {" + imapOK + ",\n\t      port: 70000}\n",
			want: []wantErr{{5, "accounts[0].mail.imap.port", "invalid port 70000"}},
		},
		{
			name: "explicit port 0 is not replaced by the default",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: {" + imapOK + ",\n\t      port: 0}\n",
			want: []wantErr{{5, "accounts[0].mail.imap.port", "invalid port 0"}},
		},
		{
			name: "port that is not a number",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: {" + imapOK + ",\n\t      port: imaps}\n",
			want: []wantErr{{5, "accounts[0].mail.imap.port", `expected an integer, got string "imaps"`}},
		},
		{
			name: "tls none to a remote host is refused",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    smtp: {" + imapOK + ",\n\t      tls: none}\n",
			want: []wantErr{{5, "accounts[0].mail.smtp.tls", "tls: none would send the password in clear text to imap.example.com"}},
		},
		{
			name: "unknown tls mode",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: {" + imapOK + ", tls: ssl}\n",
			want: []wantErr{{4, "accounts[0].mail.imap.tls", `invalid value "ssl": must be one of tls, starttls, none`}},
		},
		{
			name: "two password sources",
			yaml: `
accounts:
	- name: a
	  mail:
	    imap:
	      host: imap.example.com
	      username: me
	      password_command: pass show mail
	      password_file: /run/secrets/mail
`,
			want: []wantErr{{9, "accounts[0].mail.imap.password_file", "password_file and password_command (line 8) are both set"}},
		},
		{
			name: "a plain password is refused without echoing it",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: {host: h, username: u, password: hunter2}\n",
			want: []wantErr{
				{4, "accounts[0].mail.imap", `unknown key "password" (holdover does not store passwords`},
				{4, "accounts[0].mail.imap", "no password source"},
			},
		},
		{
			name: "no password source",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: {host: h, username: u}\n",
			want: []wantErr{{4, "accounts[0].mail.imap", "no password source"}},
		},
		{
			name: "bad password_env name and relative password_file",
			yaml: `
accounts:
	- name: a
	  mail:
	    imap: {host: h, username: u, password_env: "$PW"}
	    smtp: {host: h, username: u, password_file: secrets/pw}
`,
			want: []wantErr{
				{5, "accounts[0].mail.imap.password_env", `invalid environment variable name "$PW"`},
				{6, "accounts[0].mail.smtp.password_file", `"secrets/pw" is not an absolute path`},
			},
		},
		{
			name: "host and username problems",
			yaml: `
accounts:
	- name: a
	  mail:
	    imap: {host: "imap.example.com:993", username: u, password_env: P}
	    smtp: {host: "smtps://smtp.example.com", password_env: P}
`,
			want: []wantErr{
				{5, "accounts[0].mail.imap.host", "put the port under port:"},
				{6, "accounts[0].mail.smtp.host", "not a URL"},
				{6, "accounts[0].mail.smtp", "username is required"},
			},
		},
		{
			name: "YAML syntax error has its line",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: host: h\n",
			want: []wantErr{{4, "", "YAML syntax error: mapping values are not allowed in this context"}},
		},
		{
			name: "YAML parser error cites the unclosed block",
			yaml: "accounts:\n\t- name: a\n\t  mail: {imap: {host: h}\n\t- name: b\n",
			want: []wantErr{{3, "", "YAML syntax error: did not find expected ',' or '}'"}},
		},
		{
			name: "YAML parser error on a misindented key",
			yaml: "log:\n\tlevel: info\n format: json\n",
			want: []wantErr{{3, "", "YAML syntax error: did not find expected key"}},
		},
		{
			name: "unknown alias",
			yaml: "accounts:\n\t- name: a\n\t  mail: {imap: *imap}\n",
			want: []wantErr{{3, "", "YAML syntax error: unknown anchor 'imap' referenced"}},
		},
		{
			name: "merge key cycle",
			yaml: "accounts:\n\t- name: a\n\t  mail: {imap: &m {<<: *m, host: h, username: u, password_env: P}}\n",
			want: []wantErr{{3, "accounts[0].mail.imap", "merge key << includes the mapping it is in"}},
		},
		{
			name: "bad duration",
			yaml: "sync:\n\tinterval: 5 minutes\n" + "accounts:\n\t- name: a\n\t  mail: {imap: {" + imapOK + "}}\n",
			want: []wantErr{{2, "sync.interval", `invalid duration "5 minutes"`}},
		},
		{
			name: "duration without a unit",
			yaml: "sync: {interval: 300}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "sync.interval", `invalid duration "300"`}},
		},
		{
			name: "interval too short",
			yaml: "sync: {interval: 1s}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "sync.interval", "1s is too short: the minimum is 10s"}},
		},
		{
			name: "verification too frequent",
			yaml: "sync: {verify: 10m}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "sync.verify", "10m0s is too short: the minimum is 1h0m0s (0 turns periodic verification off)"}},
		},
		{
			name: "too many mail connections",
			yaml: "accounts: [{name: a, mail: {connections: 20, imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "accounts[0].mail.connections", "connections must be between 1 and 8 (servers limit connections per user: Dovecot allows 10 by default, Gmail 15)"}},
		},
		{
			name: "negative outbox retention",
			yaml: "outbox: {keep_done: -1h}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "outbox.keep_done", "-1h0m0s is negative (0 keeps finished actions forever)"}},
		},
		{
			name: "mail timeout too short",
			yaml: "accounts: [{name: a, mail: {timeout: 10ms, imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "accounts[0].mail.timeout", "10ms is too short: the minimum is 1s"}},
		},
		{
			name: "empty file has no accounts",
			yaml: "# nothing yet\n",
			want: []wantErr{{0, "accounts", "no accounts configured"}},
		},
		{
			name: "account without services",
			yaml: "accounts:\n\t- name: idle\n",
			want: []wantErr{{2, "accounts[0]", `account "idle" configures no service`}},
		},
		{
			name: "empty sections",
			yaml: "accounts:\n\t- name: a\n\t  mail: {}\n\t  calendar: {}\n\t  files: {}\n",
			want: []wantErr{
				{3, "accounts[0].mail", "set imap and/or smtp"},
				{4, "accounts[0].calendar", "caldav is required"},
				{5, "accounts[0].files", "webdav is required"},
				{5, "accounts[0].files", "local_dir is required"},
			},
		},
		{
			name: "mail enums and folder patterns",
			yaml: `
accounts:
	- name: a
	  mail:
	    smtp: {` + imapOK + `}
	    save_sent: always
	    folders:
	      include: ["INBOX", "[a-"]
	      exclude: [""]
`,
			want: []wantErr{
				{6, "accounts[0].mail.save_sent", "always needs mail.imap"},
				{8, "accounts[0].mail.folders.include[1]", `invalid folder pattern "[a-"`},
				{9, "accounts[0].mail.folders.exclude[0]", `invalid folder pattern ""`},
			},
		},
		{
			name: "calendar conflict and URLs",
			yaml: `
accounts:
	- name: a
	  calendar:
	    caldav: {url: "http://dav.example.com/", username: u, password_env: P}
	    conflict: mine
	- name: b
	  calendar:
	    caldav: {url: "https://me:hunter2@dav.example.com/", username: u, password_env: P}
	- name: c
	  calendar:
	    caldav: {url: "https:///cal", username: u, password_env: P}
	- name: d
	  calendar:
	    caldav: {url: "ftp://dav.example.com/", username: u, password_env: P}
	- name: e
	  calendar:
	    caldav: {url: "https://dav.example.com/%zz", username: u, password_env: P}
`,
			want: []wantErr{
				{5, "accounts[0].calendar.caldav.url", "http:// would send the password in clear text"},
				{6, "accounts[0].calendar.conflict", `invalid value "mine": must be one of ask, server-wins, local-wins, newest`},
				{9, "accounts[1].calendar.caldav.url", "must not contain a user name or password"},
				{12, "accounts[2].calendar.caldav.url", "no host"},
				{15, "accounts[3].calendar.caldav.url", "the scheme must be https://"},
				{18, "accounts[4].calendar.caldav.url", `invalid URL: invalid URL escape "%zz"`},
			},
		},
		{
			name: "files guard and transfers out of range",
			yaml: `
accounts:
	- name: a
	  files:
	    webdav: {url: "https://dav.example.com/", username: u, password_env: P}
	    local_dir: /srv/files
	    max_delete: 0
	    max_delete_count: -1
	    transfers: 100
	    poll: 1s
`,
			want: []wantErr{
				{7, "accounts[0].files.max_delete", "0 is out of range (1–100)"},
				{8, "accounts[0].files.max_delete_count", "-1 is out of range (0–2147483647)"},
				{9, "accounts[0].files.transfers", "100 is out of range (1–32)"},
				{10, "accounts[0].files.poll", "1s is too short: the minimum is 10s"},
			},
		},
		{
			name: "mail poll too short",
			yaml: `
accounts:
	- name: a
	  mail:
	    imap: {host: imap.example.com, username: u, password_env: P}
	    poll: 1s
`,
			want: []wantErr{{6, "accounts[0].mail.poll", "1s is too short: the minimum is 5s"}},
		},
		{
			name: "files local_dir rules",
			yaml: `
data_dir: /srv/holdover
accounts:
	- name: a
	  files:
	    webdav: {url: "https://dav.example.com/", username: u, password_env: P}
	    local_dir: Sync/a
	- name: b
	  files:
	    webdav: {url: "https://dav.example.com/", username: u, password_env: P}
	    local_dir: /srv/sync
	- name: c
	  files:
	    webdav: {url: "https://dav.example.com/", username: u, password_env: P}
	    local_dir: /srv/sync/c
	- name: d
	  files:
	    webdav: {url: "https://dav.example.com/", username: u, password_env: P}
	    local_dir: /srv/holdover/files
`,
			want: []wantErr{
				{7, "accounts[0].files.local_dir", `"Sync/a" is not an absolute path`},
				{15, "accounts[2].files.local_dir", "/srv/sync/c overlaps accounts[1].files.local_dir (line 11)"},
				{19, "accounts[3].files.local_dir", "/srv/holdover/files overlaps data_dir /srv/holdover"},
			},
		},
		{
			name: "top-level values",
			yaml: `
data_dir: var/lib/holdover
listen:
	control: run/holdover.sock
	http: localhost
	smtp: "127.0.0.1:99999"
log: {level: verbose, format: xml}
accounts: [{name: a, mail: {imap: {` + imapOK + `}}}]
`,
			want: []wantErr{
				{2, "data_dir", `"var/lib/holdover" is not an absolute path`},
				{4, "listen.control", `"run/holdover.sock" is not an absolute path`},
				{5, "listen.http", `invalid address "localhost": write host:port`},
				{6, "listen.smtp", `invalid port "99999"`},
				{7, "log.level", `invalid value "verbose"`},
				{7, "log.format", `invalid value "xml"`},
			},
		},
		{
			name: "same address for both listeners",
			yaml: "listen: {http: \"127.0.0.1:2000\", smtp: \"127.0.0.1:2000\"}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "listen.smtp", "same address as listen.http"}},
		},
		{
			name: "IMAP endpoint on the SMTP endpoint's address",
			yaml: "listen: {smtp: \"127.0.0.1:2000\", imap: \"127.0.0.1:2000\"}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "listen.imap", "same address as listen.smtp"}},
		},
		{
			name: "IMAP endpoint without a port",
			yaml: "listen: {imap: \"localhost\"}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "listen.imap", `invalid address "localhost"`}},
		},
		{
			name: "CalDAV endpoint on the IMAP endpoint's address",
			yaml: "listen: {imap: \"127.0.0.1:2000\", caldav: \"127.0.0.1:2000\"}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "listen.caldav", "same address as listen.imap"}},
		},
		{
			name: "a calendar login another account has",
			yaml: "accounts:\n- {name: a, calendar: {caldav: {url: \"https://dav.example/\", username: u, password_env: P}, local: {username: me, password_env: L}}}\n- {name: b, calendar: {caldav: {url: \"https://dav.example/\", username: u, password_env: P}, local: {username: me, password_env: L}}}\n",
			want: []wantErr{{3, "accounts[1].calendar.local.username", `local username "me" is already the login of account "a"`}},
		},
		{
			name: "public metrics without an HTTP listener",
			yaml: "listen: {http: \"\", metrics_public: true}\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{1, "listen.metrics_public", "listen.http is disabled"}},
		},
		{
			name: "wrong kinds of value",
			yaml: `
listen: 127.0.0.1:7878
accounts:
	name: a
`,
			want: []wantErr{
				{2, "listen", `expected a mapping, got string "127.0.0.1:7878"`},
				{4, "accounts", "expected a list, got a mapping"},
			},
		},
		{
			name: "a string where a list is expected gets a hint",
			yaml: "accounts:\n\t- name: a\n\t  mail:\n\t    imap: {" + imapOK + "}\n\t    folders: {include: INBOX}\n",
			want: []wantErr{{5, "accounts[0].mail.folders.include", `expected a list, got string "INBOX" (write ["INBOX"] for a list of one)`}},
		},
		{
			name: "duplicate key in a mapping",
			yaml: "log:\n\tlevel: info\n\tlevel: debug\naccounts: [{name: a, mail: {imap: {" + imapOK + "}}}]\n",
			want: []wantErr{{3, "log", `duplicate key "level" (first at line 2)`}},
		},
		{
			name: "two YAML documents",
			yaml: "accounts: []\n---\naccounts: []\n",
			want: []wantErr{{2, "", "more than one YAML document"}},
		},
		{
			name: "top level is not a mapping",
			yaml: "- name: a\n",
			want: []wantErr{{1, "", "the top level must be a mapping"}},
		},
		{
			name: "a value that fails to decode is reported once",
			yaml: "accounts:\n\t- name: a\n\t  mail: [imap]\n",
			want: []wantErr{{3, "accounts[0].mail", "expected a mapping, got a list"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			path := writeConfig(t, tt.yaml)
			_, err := Load(path)
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load error = %v (%T), want an ErrorList", err, err)
			}
			var got []string
			for _, e := range list {
				if e.File != path {
					t.Errorf("error names file %q, want %q", e.File, path)
				}
				got = append(got, fmt.Sprintf("%d|%s|%s", e.Line, e.Path, e.Msg))
			}
			ok := len(got) == len(tt.want)
			for i := 0; ok && i < len(got); i++ {
				w := tt.want[i]
				ok = strings.HasPrefix(got[i], fmt.Sprintf("%d|%s|", w.line, w.path)) && strings.Contains(got[i], w.msg)
			}
			if !ok {
				t.Errorf("errors:\n  %s\nwant:\n  %v", strings.Join(got, "\n  "), tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals a password: %v", err)
			}
		})
	}
}

func TestLoadAcceptsPlainTextToLoopback(t *testing.T) {
	for _, host := range []string{"127.0.0.1", "127.3.4.5", "localhost", "::1", "[::1]"} {
		t.Run(host, func(t *testing.T) {
			isolate(t)
			c := mustLoad(t, fmt.Sprintf(`
accounts:
	- name: bridge
	  mail:
	    imap: {host: %q, port: 1143, tls: none, username: u, password_env: P}
	  calendar:
	    caldav: {url: "http://%s:8080/dav/", username: u, password_env: P}
`, host, urlHost(host)))
			if c.Accounts[0].Mail.IMAP.TLS != "none" {
				t.Errorf("tls = %q", c.Accounts[0].Mail.IMAP.TLS)
			}
		})
	}
}

func urlHost(h string) string {
	if strings.Contains(h, ":") && !strings.HasPrefix(h, "[") {
		return "[" + h + "]"
	}
	return h
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  Error
		want string
	}{
		{Error{File: "c.yaml", Line: 7, Path: "accounts[0].mail.imap", Msg: `unknown key "x"`}, `c.yaml:7: accounts[0].mail.imap: unknown key "x"`},
		{Error{File: "c.yaml", Path: "accounts", Msg: "no accounts configured"}, "c.yaml: accounts: no accounts configured"},
		{Error{File: "c.yaml", Line: 3, Msg: "YAML syntax error: x"}, "c.yaml:3: YAML syntax error: x"},
		{Error{Msg: "bare"}, "bare"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	list := ErrorList{tests[0].err, tests[1].err}
	if got, want := list.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("ErrorList.Error() = %q, want %q", got, want)
	}
}

func TestLocalLoginNeedsSMTPOrIMAPAndAUniqueUsername(t *testing.T) {
	isolate(t)
	text := `
accounts:
  - name: a
    mail:
      smtp: {host: smtp.example.com, username: u, password_env: P}
      local: {username: me, password_env: L}
  - name: b
    mail:
      imap: {host: imap.example.com, username: u, password_env: P}
      local: {username: me, password_env: L}
  - name: c
    calendar:
      caldav: {url: "https://dav.example.com/", username: u, password_env: P}
    mail:
      local: {username: nobody, password_env: L}
`
	_, err := Load(writeConfig(t, text))
	if err == nil || !strings.Contains(err.Error(), `already the login of account "a"`) || !strings.Contains(err.Error(), "needs mail.smtp or mail.imap") {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(err.Error(), "needs mail.smtp or mail.imap"); n != 1 {
		t.Fatalf("want the complaint for account c only, got %d:\n%v", n, err)
	}
}

func TestAnIMAPOnlyAccountMayHaveALocalLogin(t *testing.T) {
	isolate(t)
	cfg, err := Load(writeConfig(t, `
accounts:
  - name: reader
    mail:
      imap: {host: imap.example.com, username: u, password_env: P}
      local: {username: me, password_env: L}
`))
	if err != nil {
		t.Fatal(err)
	}
	if l := cfg.Accounts[0].Mail.Local; l == nil || l.Username != "me" {
		t.Fatalf("local login: %+v", l)
	}
}
