package config

import "time"

// Config is the effective configuration of one holdover installation.
// Field names follow the YAML keys documented in docs/config.md; later
// issues extend it but never rename a key.
type Config struct {
	// DataDir holds holdover.db, the lock file and the control socket.
	DataDir  string    `yaml:"data_dir"`
	Listen   Listen    `yaml:"listen"`
	Log      Log       `yaml:"log"`
	Accounts []Account `yaml:"accounts"`
	Sync     Sync      `yaml:"sync"`

	// origins maps a key path ("accounts.work.mail.imap.port") to where
	// it was written; see Origin. Keys filled in by defaults are absent.
	origins map[string]Position
	info    loadInfo
}

// loadInfo is what Load knows about how a Config was made. It is never
// modified after Load returns.
type loadInfo struct {
	sources  Sources
	files    []string // the layers read, lowest first
	warnings ErrorList
	managed  []managedKey
}

// Listen holds the addresses of the local endpoints. Every one binds
// loopback unless the user writes another host on purpose.
type Listen struct {
	// Control is the path of the control socket (HTTP over a Unix socket,
	// mode 0600). Empty means <data_dir>/holdover.sock.
	Control string `yaml:"control"`
	HTTP    string `yaml:"http"`
	SMTP    string `yaml:"smtp"`
	// MetricsPublic serves /metrics on listen.http without the API token
	// (for a Prometheus that scrapes it); everything else keeps needing it.
	MetricsPublic bool `yaml:"metrics_public"`
}

// Log selects the slog handler.
type Log struct {
	Level  string `yaml:"level"`  // debug|info|warn|error
	Format string `yaml:"format"` // text|json
}

// Account is one person's or mailbox's set of providers. Each service is
// optional; a nil pointer means the account does not use it.
type Account struct {
	Name     string    `yaml:"name"`
	Mail     *Mail     `yaml:"mail,omitempty"`
	Calendar *Calendar `yaml:"calendar,omitempty"`
	Files    *Files    `yaml:"files,omitempty"`
}

// Mail configures the IMAP mirror and outbound SMTP of an account.
type Mail struct {
	IMAP     *Server `yaml:"imap,omitempty"`
	SMTP     *Server `yaml:"smtp,omitempty"`
	SaveSent string  `yaml:"save_sent"` // auto|always|never
	Folders  Folders `yaml:"folders"`
	// Idle lists the folders watched with IMAP IDLE (push) on a server
	// without NOTIFY; the others are polled every Poll.
	Idle []string `yaml:"idle"`
	// Poll is how often the folders of a server without NOTIFY are
	// checked for changes (one LIST-STATUS or STATUS round trip when none
	// changed). Default 30s, at least 5s.
	Poll time.Duration `yaml:"poll"`
	// Local is how local mail apps log in to holdover's SMTP submission
	// endpoint (listen.smtp) to send as this account.
	Local *LocalAuth `yaml:"local,omitempty"`
}

// Server is a host:port protocol endpoint (IMAP or SMTP).
type Server struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	TLS      string `yaml:"tls"` // tls|starttls|none; none only to loopback
	Username string `yaml:"username"`
	Secret   `yaml:",inline"`
}

// Folders selects which IMAP folders are mirrored (shell-style patterns).
type Folders struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// Calendar configures the CalDAV mirror of an account.
type Calendar struct {
	CalDAV   *DAV   `yaml:"caldav,omitempty"`
	Conflict string `yaml:"conflict"` // ask|server-wins|local-wins|newest
}

// Files configures the WebDAV folder sync of an account.
type Files struct {
	WebDAV   *DAV   `yaml:"webdav,omitempty"`
	LocalDir string `yaml:"local_dir"`
	// MaxDelete is the mass-delete guard: a pass that would delete more
	// than this percent of the files on one side stops (1–100, default 50).
	MaxDelete int `yaml:"max_delete"`
	// MaxDeleteCount, when > 0, also stops a pass that would delete more
	// files than this on one side.
	MaxDeleteCount int `yaml:"max_delete_count"`
	// Transfers is how many uploads and downloads run at once (1–32,
	// default 4).
	Transfers int `yaml:"transfers"`
	// Poll is how often the server's tree is compared (WebDAV has no
	// push); local changes are seen at once by a watcher. Default 1m,
	// at least 10s.
	Poll time.Duration `yaml:"poll"`
}

// DAV is an HTTP(S) WebDAV or CalDAV endpoint.
type DAV struct {
	URL      string `yaml:"url"`
	Username string `yaml:"username"`
	Secret   `yaml:",inline"`
}

// LocalAuth is a login for holdover's own local endpoints.
type LocalAuth struct {
	Username string `yaml:"username"`
	Secret   `yaml:",inline"`
}

// Secret says where a password comes from. Exactly one field is set. The
// password itself never appears in the configuration, the logs, the
// database or an error message.
type Secret struct {
	PasswordCommand string `yaml:"password_command,omitempty"`
	PasswordFile    string `yaml:"password_file,omitempty"`
	PasswordEnv     string `yaml:"password_env,omitempty"`
	// PasswordCredential names a systemd credential (LoadCredential=,
	// SetCredential=, ...): the file $CREDENTIALS_DIRECTORY/<name>.
	PasswordCredential string `yaml:"password_credential,omitempty"`
}

// Sync holds the engine timing shared by every account.
type Sync struct {
	Interval time.Duration `yaml:"interval"`
	// Verify is the longest time between full verifications of the mail
	// mirror against the server (UID sets and flags); 0 turns the
	// periodic ones off (one still runs after each outage).
	Verify time.Duration `yaml:"verify"`
}
