package config

import (
	"fmt"
	"net"
	"net/mail"
	"path"
	"slices"
	"strings"
)

// Validation of an account's mail section: the IMAP and SMTP servers and
// the account's own addresses.

func (v *validator) checkMail(m *Mail, l loc) {
	if m.IMAP == nil && m.SMTP == nil && !v.bad[l.sub("imap").key] && !v.bad[l.sub("smtp").key] {
		v.errorf(l, "set imap and/or smtp")
	}
	if m.IMAP != nil {
		v.applyOAuth2Server(m.IMAP, l.sub("imap"), "imap")
		v.checkServer(m.IMAP, l.sub("imap"), 993, 143)
	}
	if m.SMTP != nil {
		v.applyOAuth2Server(m.SMTP, l.sub("smtp"), "smtp")
		v.checkServer(m.SMTP, l.sub("smtp"), 465, 587)
	}
	v.checkAccountOAuth2(m, l)
	v.enum(l.sub("save_sent"), &m.SaveSent, "auto", saveSents)
	if m.SaveSent == "always" && m.IMAP == nil {
		v.errorf(l.sub("save_sent"), "always needs mail.imap to save into")
	}
	if m.Local != nil {
		ll := l.sub("local")
		if m.Local.Username == "" {
			v.errorf(ll, "username is required")
		}
		// The login opens the SMTP endpoint (sending) when the account
		// has mail.smtp and the IMAP endpoint (reading) when it has
		// mail.imap; with neither it would open nothing.
		if m.SMTP == nil && m.IMAP == nil {
			v.errorf(ll, "a local login opens the local SMTP and IMAP endpoints: it needs mail.smtp or mail.imap")
		}
		v.checkSecret(&m.Local.Secret, ll)
	}
	v.checkAddresses(m, l)
	if m.Timeout == 0 && !v.given(l.sub("timeout")) {
		m.Timeout = defaultTimeout
	}
	if m.Timeout < minTimeout {
		v.errorf(l.sub("timeout"), "%s is too short: the minimum is %s", m.Timeout, minTimeout)
	}
	if len(m.Idle) == 0 && m.IMAP != nil {
		m.Idle = []string{"INBOX"}
	}
	switch {
	case m.Connections == 0:
		m.Connections = 3
	case m.Connections < 1 || m.Connections > 8:
		v.errorf(l.sub("connections"), "connections must be between 1 and 8 (servers limit connections per user: Dovecot allows 10 by default, Gmail 15)")
	}
	for i, f := range m.Idle {
		if strings.TrimSpace(f) == "" {
			v.errorf(l.sub("idle").index(i), "empty folder name")
		}
	}
	if m.Poll == 0 && !v.given(l.sub("poll")) {
		m.Poll = defaultMailPoll
	}
	if m.Poll < minMailPoll {
		v.errorf(l.sub("poll"), "%s is too short: the minimum is %s", m.Poll, minMailPoll)
	}
	fl := l.sub("folders")
	if len(m.Folders.Include) == 0 {
		m.Folders.Include = []string{"*"}
	}
	for _, list := range []struct {
		name string
		pats []string
	}{{"include", m.Folders.Include}, {"exclude", m.Folders.Exclude}} {
		for i, p := range list.pats {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				v.errorf(fl.sub(list.name).index(i), "invalid folder pattern %q (see Go's path.Match)", p)
			}
		}
	}
}

// checkAddresses checks mail.address and mail.aliases and defaults the
// address to the SMTP, else the IMAP, username when that is an address:
// what the CLI sends as must never be a bare login such as "jdoe".
func (v *validator) checkAddresses(m *Mail, l loc) {
	al := l.sub("address")
	switch {
	case m.Address != "":
		v.bareAddress(al, m.Address)
	case !v.bad[al.key]:
		for _, s := range []*Server{m.SMTP, m.IMAP} {
			if s != nil && IsAddress(s.Username) {
				m.Address = s.Username
				break
			}
		}
	}
	seen := map[string]bool{strings.ToLower(m.Address): m.Address != ""}
	for i, a := range m.Aliases {
		il := l.sub("aliases").index(i)
		if !v.bareAddress(il, a) {
			continue
		}
		if seen[strings.ToLower(a)] {
			v.errorf(il, "%q is listed twice (address and aliases together)", a)
		}
		seen[strings.ToLower(a)] = true
	}
	if m.SMTP != nil && m.Address == "" && !v.bad[al.key] {
		var users []string
		for _, s := range []*Server{m.SMTP, m.IMAP} {
			if s != nil && s.Username != "" {
				users = append(users, fmt.Sprintf("%q", s.Username))
			}
		}
		v.warnf(l, "no sender address: set %s (the username %s is not an address); until then sendmail and mail send refuse a message that has neither -f/--from nor a From header",
			v.disp(al), strings.Join(slices.Compact(users), " / "))
	}
}

// bareAddress reports whether s is a plain address (user@domain, no
// display name), reporting it when not.
func (v *validator) bareAddress(l loc, s string) bool {
	if IsAddress(s) {
		return true
	}
	if a, err := mail.ParseAddress(s); err == nil {
		v.errorf(l, "write the bare address %q, without a name or <>", a.Address)
	} else {
		v.errorf(l, "%q is not an email address (user@domain)", s)
	}
	return false
}

// IsAddress reports whether s is a plain email address (user@domain), as
// net/mail parses one, with no display name or angle brackets.
func IsAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// checkServer applies defaults to and checks an IMAP or SMTP endpoint.
// tlsPort is the default port for tls: tls, plainPort for starttls/none.
func (v *validator) checkServer(s *Server, l loc, tlsPort, plainPort int) {
	v.enum(l.sub("tls"), &s.TLS, "tls", tlsModes)
	switch {
	case s.Host == "":
		v.errorf(l, "host is required")
	case strings.Contains(s.Host, "://") || strings.ContainsAny(s.Host, " \t/"):
		v.errorf(l.sub("host"), "invalid host %q: write a host name or IP address, not a URL", s.Host)
	default:
		if _, _, err := net.SplitHostPort(s.Host); err == nil {
			v.errorf(l.sub("host"), "invalid host %q: put the port under port:", s.Host)
		}
	}
	if s.Port == 0 && !v.given(l.sub("port")) {
		s.Port = plainPort
		if s.TLS == "tls" {
			s.Port = tlsPort
		}
	}
	if s.Port < 1 || s.Port > 65535 {
		v.errorf(l.sub("port"), "invalid port %d: must be from 1 to 65535", s.Port)
	}
	if s.TLS == "none" && s.Host != "" && !isLoopback(s.Host) {
		v.errorf(l.sub("tls"), "tls: none would send the password in clear text to %s; it is only allowed to a loopback host (localhost, 127.0.0.0/8, ::1)", s.Host)
	}
	if s.Username == "" {
		v.errorf(l, "username is required")
	}
	if s.OAuth2 == nil {
		v.checkSecret(&s.Secret, l)
		return
	}
	if n := s.Secret.count(); n > 0 {
		v.errorf(l.sub("oauth2"), "oauth2 and a password source are both set: an OAuth2 sign-in needs no password, remove the password_* key")
	}
	v.checkOAuth2(s.OAuth2, l.sub("oauth2"))
}
