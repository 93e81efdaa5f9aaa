package config

import (
	"bytes"
	"maps"
	"path/filepath"
	"slices"

	"go.yaml.in/yaml/v3"
)

// redacted replaces a password command in [Config.Redacted].
const redacted = "<redacted>"

// Account returns the account with the given name.
func (c *Config) Account(name string) (*Account, bool) {
	for i := range c.Accounts {
		if c.Accounts[i].Name == name {
			return &c.Accounts[i], true
		}
	}
	return nil, false
}

// ControlSocket returns the path of the control socket: listen.control,
// or <data_dir>/holdover.sock when that is empty.
func (c *Config) ControlSocket() string {
	if c.Listen.Control != "" {
		return c.Listen.Control
	}
	return filepath.Join(c.DataDir, "holdover.sock")
}

// DBPath returns the path of the SQLite database, <data_dir>/holdover.db.
func (c *Config) DBPath() string {
	return filepath.Join(c.DataDir, "holdover.db")
}

// Origin returns where the key at path was written, if it was written
// rather than defaulted. Paths are the YAML keys joined by dots, accounts
// being named by their name and other list items by index:
// "data_dir", "accounts.work.mail.imap.port",
// "accounts.work.mail.folders.include[0]". An account whose name is
// missing, invalid or a duplicate is "accounts[i]" instead.
func (c *Config) Origin(path string) (Position, bool) {
	p, ok := c.origins[path]
	return p, ok
}

// Redacted returns a deep copy of c in which every password_command is
// replaced by "<redacted>", since a command line may embed a password.
// Password file paths and environment variable names are kept: they are
// references, not secrets.
func (c *Config) Redacted() *Config {
	r := *c
	r.origins = maps.Clone(c.origins)
	r.Accounts = slices.Clone(c.Accounts)
	r.OAuth2.Microsoft365.ClientSecret = redactClientSecret(c.OAuth2.Microsoft365.ClientSecret)
	r.OAuth2.Google.ClientSecret = redactClientSecret(c.OAuth2.Google.ClientSecret)
	for i := range r.Accounts {
		a := &r.Accounts[i]
		if a.Mail != nil {
			m := *a.Mail
			m.IMAP = redactServer(m.IMAP)
			m.SMTP = redactServer(m.SMTP)
			if m.Local != nil {
				la := *m.Local
				la.Secret = la.Secret.redacted()
				m.Local = &la
			}
			m.Folders.Include = slices.Clone(m.Folders.Include)
			m.Folders.Exclude = slices.Clone(m.Folders.Exclude)
			a.Mail = &m
		}
		if a.Calendar != nil {
			cal := *a.Calendar
			cal.CalDAV = redactDAV(cal.CalDAV)
			if cal.Local != nil {
				la := *cal.Local
				la.Secret = la.Secret.redacted()
				cal.Local = &la
			}
			a.Calendar = &cal
		}
		if a.Files != nil {
			f := *a.Files
			f.WebDAV = redactDAV(f.WebDAV)
			a.Files = &f
		}
	}
	return &r
}

func redactServer(s *Server) *Server {
	if s == nil {
		return nil
	}
	r := *s
	r.Secret = r.Secret.redacted()
	if s.OAuth2 != nil {
		o := *s.OAuth2
		o.Scopes = slices.Clone(o.Scopes)
		o.ClientSecret = redactClientSecret(o.ClientSecret)
		r.OAuth2 = &o
	}
	return &r
}

func redactClientSecret(cs *ClientSecret) *ClientSecret {
	if cs == nil {
		return nil
	}
	return &ClientSecret{Secret: cs.Secret.redacted()}
}

func redactDAV(d *DAV) *DAV {
	if d == nil {
		return nil
	}
	r := *d
	r.Secret = r.Secret.redacted()
	return &r
}

func (s Secret) redacted() Secret {
	if s.PasswordCommand != "" {
		s.PasswordCommand = redacted
	}
	return s
}

// Marshal renders c as YAML in the layout of the configuration file, for
// "holdover config show". Call [Config.Redacted] first when the output
// may be shown to anyone: Marshal prints what it is given. The output of
// a valid Config loads back to an equal Config.
func Marshal(c *Config) ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
