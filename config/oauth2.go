package config

import (
	"errors"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
)

// OAuth2Clients are the applications an admin registered with each
// identity provider, set once (usually in a conf.d drop-in, listed under
// managed:) for every account that signs in with that provider.
type OAuth2Clients struct {
	Microsoft365 OAuth2Client `yaml:"microsoft365"`
	Google       OAuth2Client `yaml:"google"`
}

// OAuth2Client is one registered application.
type OAuth2Client struct {
	ClientID string `yaml:"client_id"`
	// ClientSecret is where the client secret comes from, like a
	// password; never written inline. Google's desktop clients have one,
	// Microsoft's public clients none.
	ClientSecret *ClientSecret `yaml:"client_secret,omitempty"`
	// Tenant is the Microsoft Entra tenant (microsoft365 only).
	Tenant string `yaml:"tenant,omitempty"`
}

// ClientSecret is a secret source (password_command, password_file,
// password_env or password_credential) for an OAuth2 client secret.
type ClientSecret struct {
	Secret `yaml:",inline"`
}

// OAuth2 is an IMAP or SMTP server's OAuth2 sign-in. Provider presets
// fill in the server (host, port, tls), the endpoints and the scopes;
// anything written here wins over them. An account's IMAP and SMTP share
// one sign-in (one token file), so their settings must agree.
type OAuth2 struct {
	Provider string `yaml:"provider"` // microsoft365|google|custom
	// Tenant (microsoft365): default oauth2.microsoft365.tenant, else
	// "organizations" (any work or school account).
	Tenant       string        `yaml:"tenant,omitempty"`
	ClientID     string        `yaml:"client_id,omitempty"`
	ClientSecret *ClientSecret `yaml:"client_secret,omitempty"`
	AuthURL      string        `yaml:"auth_url,omitempty"`
	TokenURL     string        `yaml:"token_url,omitempty"`
	// DeviceURL is the device authorization endpoint (RFC 8628) that
	// `holdover account login --device` uses.
	DeviceURL string   `yaml:"device_url,omitempty"`
	Scopes    []string `yaml:"scopes,omitempty"`
	// RefreshTokenCredential names a systemd credential holding a refresh
	// token, for service installs signed in elsewhere.
	RefreshTokenCredential string `yaml:"refresh_token_credential,omitempty"`
}

var (
	oauth2Providers = []string{"microsoft365", "google", "custom"}
	// tenantRE: a tenant is a GUID, a domain name or one of common,
	// organizations, consumers; it goes into a URL path.
	tenantRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,254}$`)
)

// oauth2Preset is what a provider fills in.
type oauth2Preset struct {
	auth, token, device string
	scopes              []string
	imap, smtp          Server // host, port, tls
	needsSecret         bool
}

func presetFor(provider, tenant string) (oauth2Preset, bool) {
	switch provider {
	case "microsoft365":
		base := "https://login.microsoftonline.com/" + tenant + "/oauth2/v2.0/"
		return oauth2Preset{
			auth: base + "authorize", token: base + "token", device: base + "devicecode",
			scopes: []string{"https://outlook.office.com/IMAP.AccessAsUser.All", "https://outlook.office.com/SMTP.Send", "offline_access"},
			imap:   Server{Host: "outlook.office365.com", Port: 993, TLS: "tls"},
			smtp:   Server{Host: "smtp.office365.com", Port: 587, TLS: "starttls"},
		}, true
	case "google":
		return oauth2Preset{
			auth: "https://accounts.google.com/o/oauth2/v2/auth", token: "https://oauth2.googleapis.com/token",
			device: "https://oauth2.googleapis.com/device/code",
			scopes: []string{"https://mail.google.com/"},
			imap:   Server{Host: "imap.gmail.com", Port: 993, TLS: "tls"},
			smtp:   Server{Host: "smtp.gmail.com", Port: 465, TLS: "tls"},
			// Google's token endpoint wants the secret of desktop clients.
			needsSecret: true,
		}, true
	}
	return oauth2Preset{}, false
}

// AuthParams are the extra authorization parameters the provider needs
// for a refresh token.
func (o *OAuth2) AuthParams() map[string]string {
	if o.Provider == "google" {
		return map[string]string{"access_type": "offline", "prompt": "consent"}
	}
	return nil
}

// applyOAuth2Server fills in the server from the provider preset (host,
// port, tls not written) before the server is checked. service is
// "imap" or "smtp".
func (v *validator) applyOAuth2Server(s *Server, l loc, service string) {
	if s.OAuth2 == nil {
		return
	}
	p, ok := presetFor(s.OAuth2.Provider, "x")
	if !ok {
		return
	}
	srv := p.imap
	if service == "smtp" {
		srv = p.smtp
	}
	if s.Host == "" && !v.given(l.sub("host")) {
		s.Host = srv.Host
	}
	if s.TLS == "" && !v.given(l.sub("tls")) {
		s.TLS = srv.TLS
		if s.Port == 0 && !v.given(l.sub("port")) {
			s.Port = srv.Port
		}
	}
}

// checkOAuth2 applies defaults (the admin's client, then the preset) to
// and checks a server's oauth2 settings.
func (v *validator) checkOAuth2(o *OAuth2, l loc) {
	if o.Provider == "" {
		v.errorf(l, "provider is required: one of %s", strings.Join(oauth2Providers, ", "))
	} else {
		v.enum(l.sub("provider"), &o.Provider, "", oauth2Providers)
	}
	var admin OAuth2Client
	switch o.Provider {
	case "microsoft365":
		admin = v.clients.Microsoft365
	case "google":
		admin = v.clients.Google
	}
	if o.ClientID == "" {
		o.ClientID = admin.ClientID
	}
	if o.ClientSecret == nil && admin.ClientSecret != nil {
		cs := *admin.ClientSecret
		o.ClientSecret = &cs
	}
	if o.Provider == "microsoft365" {
		if o.Tenant == "" {
			o.Tenant = admin.Tenant
		}
		if o.Tenant == "" {
			o.Tenant = "organizations"
		}
		if !tenantRE.MatchString(o.Tenant) {
			v.errorf(l.sub("tenant"), "invalid tenant %q: write a tenant ID (a GUID), a domain such as contoso.onmicrosoft.com, or organizations", o.Tenant)
		}
	} else if o.Tenant != "" {
		v.errorf(l.sub("tenant"), "tenant is for provider microsoft365 only")
	}
	if p, ok := presetFor(o.Provider, o.Tenant); ok {
		if o.AuthURL == "" {
			o.AuthURL = p.auth
		}
		if o.TokenURL == "" {
			o.TokenURL = p.token
		}
		if o.DeviceURL == "" {
			o.DeviceURL = p.device
		}
		if len(o.Scopes) == 0 {
			o.Scopes = slices.Clone(p.scopes)
		}
		if p.needsSecret && o.ClientSecret == nil {
			v.errorf(l, "client_secret is required for provider %s: an admin sets oauth2.%s.client_secret (a password_file, password_credential, … holding the secret of the app registration; see docs/config.md)", o.Provider, o.Provider)
		}
	}
	if o.ClientID == "" {
		if o.Provider == "custom" {
			v.errorf(l, "client_id is required")
		} else if o.Provider != "" {
			v.errorf(l, "client_id is missing: an admin sets oauth2.%s.client_id once in a drop-in (see docs/config.md, \"Microsoft 365 and Google\"), or set client_id here", o.Provider)
		}
	}
	if o.Provider == "custom" {
		for _, k := range []struct {
			name, val string
		}{{"auth_url", o.AuthURL}, {"token_url", o.TokenURL}} {
			if k.val == "" {
				v.errorf(l, "%s is required for provider custom", k.name)
			}
		}
		if len(o.Scopes) == 0 {
			v.errorf(l, "scopes is required for provider custom")
		}
	}
	for _, k := range []struct {
		name, val string
	}{{"auth_url", o.AuthURL}, {"token_url", o.TokenURL}, {"device_url", o.DeviceURL}} {
		if k.val != "" {
			v.checkEndpoint(k.val, l.sub(k.name))
		}
	}
	for i, s := range o.Scopes {
		if s == "" || strings.ContainsAny(s, " \t\n\"") {
			v.errorf(l.sub("scopes").index(i), "invalid scope %q: one scope per item, no spaces", s)
		}
	}
	if o.ClientSecret != nil {
		v.checkSecret(&o.ClientSecret.Secret, l.sub("client_secret"))
	}
	if o.RefreshTokenCredential != "" {
		if msg := credentialNameError(o.RefreshTokenCredential); msg != "" {
			v.errorf(l.sub("refresh_token_credential"), "%s", msg)
		}
	}
}

// checkClients checks the admin's OAuth2 clients.
func (v *validator) checkClients(c *Config) {
	v.clients = c.OAuth2
	for _, p := range []struct {
		name string
		c    *OAuth2Client
	}{{"microsoft365", &c.OAuth2.Microsoft365}, {"google", &c.OAuth2.Google}} {
		l := at("oauth2").sub(p.name)
		if p.c.Tenant != "" && p.name != "microsoft365" {
			v.errorf(l.sub("tenant"), "tenant is for microsoft365 only")
		}
		if p.c.Tenant != "" && !tenantRE.MatchString(p.c.Tenant) {
			v.errorf(l.sub("tenant"), "invalid tenant %q: write a tenant ID (a GUID), a domain such as contoso.onmicrosoft.com, or organizations", p.c.Tenant)
		}
		if p.c.ClientSecret != nil {
			v.checkSecret(&p.c.ClientSecret.Secret, l.sub("client_secret"))
		}
	}
	v.clients = c.OAuth2
}

func parseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return u, err
}

// checkEndpoint requires an https:// URL (http:// only to loopback).
func (v *validator) checkEndpoint(raw string, l loc) {
	u, err := parseURL(raw)
	switch {
	case err != nil:
		v.errorf(l, "invalid URL: %v", err)
	case u.Scheme == "http" && !isLoopback(u.Hostname()):
		v.errorf(l, "http:// would send tokens in clear text to %s; use https:// (http:// is only allowed to a loopback host)", u.Hostname())
	case u.Scheme != "https" && u.Scheme != "http", u.Hostname() == "":
		v.errorf(l, "invalid URL %q: write an https:// URL", raw)
	}
}

// checkAccountOAuth2 requires an account's IMAP and SMTP sign-ins to be
// one: they share the token file.
func (v *validator) checkAccountOAuth2(m *Mail, l loc) {
	if m.IMAP == nil || m.SMTP == nil || m.IMAP.OAuth2 == nil || m.SMTP.OAuth2 == nil {
		return
	}
	a, b := *m.IMAP.OAuth2, *m.SMTP.OAuth2
	if !reflect.DeepEqual(a, b) {
		v.errorf(l.sub("smtp").sub("oauth2"), "differs from mail.imap.oauth2 (%s): an account has one sign-in for IMAP and SMTP, so write the same oauth2 settings for both (or one YAML anchor)", v.where(l.sub("imap").sub("oauth2").key, l.sub("smtp").sub("oauth2")))
	}
}

// SignIn returns the account's OAuth2 sign-in (the IMAP one, which SMTP
// shares), or nil when it signs in with passwords.
func (a *Account) SignIn() *OAuth2 {
	if a.Mail == nil {
		return nil
	}
	for _, s := range []*Server{a.Mail.IMAP, a.Mail.SMTP} {
		if s != nil && s.OAuth2 != nil {
			return s.OAuth2
		}
	}
	return nil
}
