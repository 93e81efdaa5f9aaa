package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestMailAddressDefaultsAndWarnings(t *testing.T) {
	tests := []struct {
		name        string
		mail        string // the body of accounts[0].mail
		wantAddress string
		wantWarning string // substring of the only warning; "" for none
	}{
		{
			name:        "an explicit address is kept",
			mail:        "smtp: {host: smtp.example.com, username: jdoe, password_env: P}\naddress: jane.doe@example.com\naliases: [jd@example.com]",
			wantAddress: "jane.doe@example.com",
		},
		{
			name:        "an address-shaped SMTP username is the default",
			mail:        "smtp: {host: smtp.example.com, username: jane@example.com, password_env: P}\nimap: {host: imap.example.com, username: other@example.com, password_env: P}",
			wantAddress: "jane@example.com",
		},
		{
			name:        "an address-shaped IMAP username is the next default",
			mail:        "smtp: {host: smtp.example.com, username: jdoe, password_env: P}\nimap: {host: imap.example.com, username: jane@example.com, password_env: P}",
			wantAddress: "jane@example.com",
		},
		{
			name:        "smtp with no address anywhere warns and names the key",
			mail:        "smtp: {host: smtp.example.com, username: jdoe, password_env: P}\nimap: {host: imap.example.com, username: jdoe, password_env: P}",
			wantWarning: `accounts[0].mail: no sender address: set accounts[0].mail.address (the username "jdoe" is not an address)`,
		},
		{
			name: "no smtp, no address: nothing is sent, nothing to warn about",
			mail: "imap: {host: imap.example.com, username: jdoe, password_env: P}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			body := "\t  mail:\n\t    " + strings.ReplaceAll(tt.mail, "\n", "\n\t    ") + "\n"
			c := mustLoad(t, "accounts:\n\t- name: a\n"+body)
			if got := c.Accounts[0].Mail.Address; got != tt.wantAddress {
				t.Errorf("address = %q, want %q", got, tt.wantAddress)
			}
			w := c.Warnings()
			switch {
			case tt.wantWarning == "" && len(w) != 0:
				t.Errorf("warnings = %v, want none", w)
			case tt.wantWarning != "" && (len(w) != 1 || !strings.Contains(w[0].Error(), tt.wantWarning) || w[0].Line != 3):
				t.Errorf("warnings = %v, want one at line 3 containing %q", w, tt.wantWarning)
			}
		})
	}
}

func TestMailAddressMustBeABareAddress(t *testing.T) {
	tests := []struct {
		name, mail string
		want       []wantErr
	}{
		{"a login is not an address", "address: jdoe",
			[]wantErr{{5, "accounts[0].mail.address", `"jdoe" is not an email address`}}},
		{"a display name is refused with the bare form", "address: Jane Doe <jane@example.com>",
			[]wantErr{{5, "accounts[0].mail.address", `write the bare address "jane@example.com"`}}},
		{"each bad alias is reported", "aliases: [ok@example.com, nope, ok@example.com]",
			[]wantErr{
				{5, "accounts[0].mail.aliases[1]", `"nope" is not an email address`},
				{5, "accounts[0].mail.aliases[2]", `"ok@example.com" is listed twice`},
			}},
		{"an alias repeating the address", "address: me@example.com\n\t    aliases: [ME@example.com]",
			[]wantErr{{6, "accounts[0].mail.aliases[0]", "listed twice"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			_, err := Load(writeConfig(t, "accounts:\n\t- name: a\n\t  mail:\n\t    smtp: {host: smtp.example.com, username: me@example.com, password_env: P}\n\t    "+tt.mail+"\n"))
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load error = %v, want an ErrorList", err)
			}
			if len(list) != len(tt.want) {
				t.Fatalf("errors:\n%v\nwant %v", err, tt.want)
			}
			for i, w := range tt.want {
				if e := list[i]; e.Line != w.line || e.Path != w.path || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d = %d|%s|%s, want %v", i, e.Line, e.Path, e.Msg, w)
				}
			}
		})
	}
}

func TestIsAddress(t *testing.T) {
	yes := []string{"jane@example.com", "j.doe+tag@sub.example.co.uk", "root@localhost"}
	no := []string{"", "jdoe", "jane@", "@example.com", "<jane@example.com>", "Jane <jane@example.com>", "a@b, c@d", " jane@example.com"}
	for _, s := range yes {
		if !IsAddress(s) {
			t.Errorf("IsAddress(%q) = false", s)
		}
	}
	if i := slices.IndexFunc(no, IsAddress); i >= 0 {
		t.Errorf("IsAddress(%q) = true", no[i])
	}
}
