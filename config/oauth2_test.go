package config

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestOAuth2Microsoft365PresetFillsServersEndpointsAndScopes(t *testing.T) {
	s, _ := layered(t, map[string]string{
		"etc/conf.d/10-oauth.yaml": `managed: [oauth2.microsoft365]
oauth2:
	microsoft365: {client_id: 11111111-2222-3333-4444-555555555555, tenant: contoso.onmicrosoft.com}
`,
		"home/config.yaml": `accounts:
	- name: work
	  mail:
	    imap: {username: me@contoso.com, oauth2: {provider: microsoft365}}
	    smtp: {username: me@contoso.com, oauth2: {provider: microsoft365}}
`,
	})
	c := mustLoadSources(t, s)
	w, _ := c.Account("work")
	imap, smtp := w.Mail.IMAP, w.Mail.SMTP
	if imap.Host != "outlook.office365.com" || imap.Port != 993 || imap.TLS != "tls" {
		t.Errorf("imap = %s:%d %s", imap.Host, imap.Port, imap.TLS)
	}
	if smtp.Host != "smtp.office365.com" || smtp.Port != 587 || smtp.TLS != "starttls" {
		t.Errorf("smtp = %s:%d %s", smtp.Host, smtp.Port, smtp.TLS)
	}
	o := w.SignIn()
	if o.ClientID != "11111111-2222-3333-4444-555555555555" || o.Tenant != "contoso.onmicrosoft.com" {
		t.Errorf("client %q tenant %q; want the admin's", o.ClientID, o.Tenant)
	}
	if o.TokenURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token" ||
		o.DeviceURL != "https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/devicecode" {
		t.Errorf("endpoints %q %q", o.TokenURL, o.DeviceURL)
	}
	want := []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"}
	if !slices.Equal(o.Scopes, want) {
		t.Errorf("scopes %v", o.Scopes)
	}
}

func TestOAuth2GooglePresetAndTenantDefault(t *testing.T) {
	isolate(t)
	c := mustLoad(t, `
oauth2:
	google: {client_id: abc.apps.googleusercontent.com, client_secret: {password_file: /etc/holdover/google-secret}}
	microsoft365: {client_id: ms}
accounts:
	- name: gmail
	  mail:
	    imap: {username: me@example.com, oauth2: {provider: google}}
	    smtp: {username: me@example.com, oauth2: {provider: google}}
	- name: work
	  mail:
	    imap: {username: me@contoso.com, oauth2: {provider: microsoft365}}
`)
	g, _ := c.Account("gmail")
	if g.Mail.IMAP.Host != "imap.gmail.com" || g.Mail.SMTP.Host != "smtp.gmail.com" || g.Mail.SMTP.Port != 465 {
		t.Errorf("gmail servers %+v %+v", g.Mail.IMAP, g.Mail.SMTP)
	}
	if o := g.SignIn(); !slices.Equal(o.Scopes, []string{"https://mail.google.com/"}) || o.ClientSecret == nil || o.ClientSecret.PasswordFile != "/etc/holdover/google-secret" {
		t.Errorf("google sign-in %+v", o)
	}
	if w, _ := c.Account("work"); w.SignIn().Tenant != "organizations" {
		t.Errorf("tenant %q; want organizations by default", w.SignIn().Tenant)
	}
}

func TestOAuth2BadInputNamesFileAndLine(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []wantErr
	}{
		{"missing client_id", `
accounts:
	- name: work
	  mail:
	    imap:
	      username: me
	      oauth2: {provider: microsoft365}
`, []wantErr{{7, "accounts[0].mail.imap.oauth2", "client_id is missing: an admin sets oauth2.microsoft365.client_id"}}},
		{"unknown provider", `
accounts:
	- name: work
	  mail:
	    imap:
	      host: imap.example.com
	      username: me
	      oauth2: {provider: yahoo, client_id: x}
`, []wantErr{{8, "accounts[0].mail.imap.oauth2.provider", `invalid value "yahoo": must be one of microsoft365, google, custom`}}},
		{"tenant with bad characters", `
accounts:
	- name: work
	  mail:
	    imap:
	      username: me
	      oauth2:
	        provider: microsoft365
	        client_id: x
	        tenant: ../evil/
`, []wantErr{{10, "accounts[0].mail.imap.oauth2.tenant", `invalid tenant "../evil/"`}}},
		{"a password source as well", `
accounts:
	- name: work
	  mail:
	    imap:
	      username: me
	      password_env: PW
	      oauth2: {provider: microsoft365, client_id: x}
`, []wantErr{{8, "accounts[0].mail.imap.oauth2", "oauth2 and a password source are both set"}}},
		{"client secret written inline", `
oauth2:
	google:
	  client_id: x
	  client_secret: hunter2
accounts:
	- name: work
	  mail: {imap: {` + imapOK + `}}
`, []wantErr{{5, "oauth2.google.client_secret", "expected a mapping"}}},
		{"google without a client secret", `
accounts:
	- name: work
	  mail:
	    imap:
	      username: me
	      oauth2: {provider: google, client_id: x}
`, []wantErr{{7, "accounts[0].mail.imap.oauth2", "client_secret is required for provider google"}}},
		{"custom without endpoints", `
accounts:
	- name: work
	  mail:
	    imap:
	      host: mail.example.com
	      username: me
	      oauth2: {provider: custom, client_id: x, token_url: "http://idp.example.com/token"}
`, []wantErr{
			{8, "accounts[0].mail.imap.oauth2", "auth_url is required for provider custom"},
			{8, "accounts[0].mail.imap.oauth2", "scopes is required"},
			{8, "accounts[0].mail.imap.oauth2.token_url", "http:// would send tokens in clear text"},
		}},
		{"imap and smtp sign-ins differ", `
oauth2: {microsoft365: {client_id: x}}
accounts:
	- name: work
	  mail:
	    imap: {username: me, oauth2: {provider: microsoft365}}
	    smtp: {username: me, oauth2: {provider: microsoft365, tenant: other.example}}
`, []wantErr{{7, "accounts[0].mail.smtp.oauth2", "differs from mail.imap.oauth2 (line 6)"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			_, err := Load(writeConfig(t, tt.yaml))
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("Load = %v; want an ErrorList", err)
			}
			var got []string
			for _, e := range list {
				got = append(got, e.Error())
			}
			if len(list) != len(tt.want) {
				t.Fatalf("errors:\n  %s\nwant %d", strings.Join(got, "\n  "), len(tt.want))
			}
			for i, w := range tt.want {
				e := list[i]
				if e.Line != w.line || e.Path != w.path || !strings.Contains(e.Msg, w.msg) {
					t.Errorf("error %d: %s; want line %d %s: …%s…", i, got[i], w.line, w.path, w.msg)
				}
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error reveals a secret: %v", err)
			}
		})
	}
}

func TestRedactedHidesClientSecretCommands(t *testing.T) {
	isolate(t)
	c := mustLoad(t, `
oauth2:
	google: {client_id: x, client_secret: {password_command: "pass show hunter2"}}
accounts:
	- name: gmail
	  mail:
	    imap: {username: me, oauth2: {provider: google, client_secret: {password_command: "echo hunter2"}}}
`)
	out, err := Marshal(c.Redacted())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "hunter2") {
		t.Errorf("config show reveals a client secret command:\n%s", out)
	}
	if g, _ := c.Account("gmail"); g.SignIn().ClientSecret.PasswordCommand != "echo hunter2" {
		t.Error("Redacted changed the original")
	}
}
