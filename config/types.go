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
	Outbox   Outbox    `yaml:"outbox"`
	Sync     Sync      `yaml:"sync"`
	// OAuth2 holds the OAuth2 clients an admin registers once for every
	// account of the installation (see OAuth2Clients).
	OAuth2 OAuth2Clients `yaml:"oauth2"`

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
	// IMAP is the local IMAP endpoint over the mail mirror; "" disables.
	IMAP string `yaml:"imap"`
	// CalDAV is the local CalDAV endpoint over the calendar mirror; ""
	// disables.
	CalDAV string `yaml:"caldav"`
	// TLS is the certificate the local endpoints offer (smtp and imap with
	// STARTTLS, caldav as HTTPS off loopback); without it they speak
	// plaintext only, so a non-loopback address refuses every login.
	TLS *ListenTLS `yaml:"tls,omitempty"`
	// MetricsPublic serves /metrics on listen.http without the API token
	// (for a Prometheus that scrapes it); everything else keeps needing it.
	MetricsPublic bool `yaml:"metrics_public"`
}

// ListenTLS names the PEM files of the local endpoints' certificate.
// They are read at load (and so at every reload: a renewed certificate
// is picked up by a reload), never later.
type ListenTLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
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
	// Connections bounds the IMAP sessions one sync pass may use at once
	// for a large download (the initial sync); 1 keeps it to one.
	Connections int `yaml:"connections"`
	// Poll is how often the folders of a server without NOTIFY are
	// checked for changes (one LIST-STATUS or STATUS round trip when none
	// changed). Default 30s, at least 5s.
	Poll time.Duration `yaml:"poll"`
	// Local is how local mail apps log in to holdover's SMTP submission
	// endpoint (listen.smtp) to send as this account, when it has SMTP,
	// and to its IMAP endpoint (listen.imap) to read its mirror, when it
	// has IMAP.
	Local *LocalAuth `yaml:"local,omitempty"`
	// Address is the account's own address: the envelope sender of what
	// sendmail and mail send queue, and the From of a message without
	// one. Defaults to the SMTP username, else the IMAP username, when
	// that is an address; "" when neither is.
	Address string `yaml:"address"`
	// Aliases are the account's other addresses, which may also be the
	// envelope sender (sendmail -f, a From header).
	Aliases []string `yaml:"aliases"`
	// Timeout bounds connecting, the greeting and the login to the IMAP
	// and SMTP servers (default 20s); an established session's reads
	// keep their own, longer limit.
	Timeout time.Duration `yaml:"timeout"`
}

// Server is a host:port protocol endpoint (IMAP or SMTP).
type Server struct {
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	TLS      string `yaml:"tls"` // tls|starttls|none; none only to loopback
	Username string `yaml:"username"`
	Secret   `yaml:",inline"`
	// OAuth2, when set, signs in with OAuth2 instead of a password
	// source (see OAuth2).
	OAuth2 *OAuth2 `yaml:"oauth2,omitempty"`
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
	// Local is how local calendar apps log in to holdover's CalDAV
	// endpoint (listen.caldav); without it, the account's mail.local
	// login is used.
	Local *LocalAuth `yaml:"local,omitempty"`
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

// Outbox holds the outbox settings shared by every account.
type Outbox struct {
	// KeepDone is how long done and cancelled actions are kept (with
	// their payloads and message bodies) before they are pruned; 0
	// keeps them forever. Default 720h (30 days).
	KeepDone time.Duration `yaml:"keep_done"`
}
