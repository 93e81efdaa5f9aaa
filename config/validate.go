package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Defaults. docs/config.md documents the same values.
const (
	defaultHTTP     = "127.0.0.1:7878"
	defaultSMTP     = "127.0.0.1:1587"
	defaultIMAP     = "127.0.0.1:1143"
	defaultCalDAV   = "127.0.0.1:5233"
	defaultInterval = 5 * time.Minute
	minInterval     = 10 * time.Second
	defaultMailPoll = 30 * time.Second
	minMailPoll     = 5 * time.Second
	defaultVerify   = 24 * time.Hour
	minVerify       = time.Hour
	defaultKeepDone = 30 * 24 * time.Hour
	defaultTimeout  = 20 * time.Second
	minTimeout      = time.Second
	// maxSocketPath is the longest Unix socket path every supported
	// system accepts (sun_path is 104 bytes on macOS/BSD, 108 on Linux,
	// NUL included).
	maxSocketPath = 103
)

var (
	nameRE    = regexp.MustCompile(`^[a-z0-9-]+$`)
	envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

	logLevels  = []string{"debug", "info", "warn", "error"}
	logFormats = []string{"text", "json"}
	tlsModes   = []string{"tls", "starttls", "none"}
	saveSents  = []string{"auto", "always", "never"}
	conflicts  = []string{"ask", "server-wins", "local-wins", "newest"}
)

// accountKeys returns the origin path of each account: "accounts.<name>"
// for the first account with a given valid name, "accounts[i]" for the
// others (unnamed, misnamed or duplicate ones).
func accountKeys(accts []Account) []string {
	keys := make([]string, len(accts))
	used := map[string]bool{}
	for i, a := range accts {
		if nameRE.MatchString(a.Name) && !used[a.Name] {
			used[a.Name] = true
			keys[i] = "accounts." + a.Name
		} else {
			keys[i] = "accounts[" + strconv.Itoa(i) + "]"
		}
	}
	return keys
}

// loc names a key twice: key is its origin path (accounts by name), disp
// the path shown in errors (accounts by index, as in the file).
type loc struct{ key, disp string }

func at(p string) loc { return loc{p, p} }

func (l loc) sub(name string) loc { return loc{joinPath(l.key, name), joinPath(l.disp, name)} }

func (l loc) index(i int) loc {
	s := "[" + strconv.Itoa(i) + "]"
	return loc{l.key + s, l.disp + s}
}

// validator applies defaults and checks a decoded Config, citing the
// position of each offending key.
type validator struct {
	file    string // where problems with no written key are reported
	origins map[string]Position
	bad     map[string]bool // keys that failed to decode, already reported
	nulls   map[string]bool // keys written as null (empty, ~ or null)
	errs    ErrorList
	// warns are problems that do not stop the configuration from
	// loading (see Config.Warnings).
	warns ErrorList
	// fileIndex[i] maps a file to the index account i has in it, so that
	// "accounts[i]" in a message counts as the cited file does.
	fileIndex []map[string]int
	// emptiedBy is the removal that left no account, if any.
	emptiedBy *removal
	// clients are the admin's OAuth2 clients, defaults of each oauth2.
	clients OAuth2Clients
}

// has reports whether the key was written in the file (even as null).
func (v *validator) has(l loc) bool {
	_, ok := v.origins[l.key]
	return ok
}

// given reports whether the key was written with a value, not as null.
func (v *validator) given(l loc) bool {
	return v.has(l) && !v.nulls[l.key]
}

func parentKey(k string) (string, bool) {
	i := strings.LastIndexAny(k, ".[")
	if i < 0 {
		return "", false
	}
	return k[:i], true
}

// position returns where a key, or failing that its nearest written
// ancestor, is in the file.
func (v *validator) position(key string) Position {
	for k, ok := key, true; ok; k, ok = parentKey(k) {
		if p, found := v.origins[k]; found {
			return p
		}
	}
	return Position{File: v.file}
}

// where describes a key's position for use inside a message about near:
// "line 7" within the same file, "file:line" otherwise.
func (v *validator) where(key string, near loc) string {
	p := v.position(key)
	if p.File == v.position(near.key).File && p.Line > 0 {
		return "line " + strconv.Itoa(p.Line)
	}
	return p.String()
}

// disp returns the path of l as shown in messages: accounts are counted
// as in the file where l was written, which is not the position in the
// merged list when several files define accounts.
func (v *validator) disp(l loc) string {
	rest, ok := strings.CutPrefix(l.disp, "accounts[")
	if !ok {
		return l.disp
	}
	num, tail, _ := strings.Cut(rest, "]")
	i, err := strconv.Atoi(num)
	if err != nil || i < 0 || i >= len(v.fileIndex) {
		return l.disp
	}
	if j, ok := v.fileIndex[i][v.position(l.key).File]; ok {
		return "accounts[" + strconv.Itoa(j) + "]" + tail
	}
	return l.disp
}

func (v *validator) errorf(l loc, format string, args ...any) {
	for k, ok := l.key, true; ok; k, ok = parentKey(k) {
		if v.bad[k] {
			return // the value did not decode; that is already reported
		}
	}
	p := v.position(l.key)
	v.errs = append(v.errs, Error{File: p.File, Line: p.Line, Path: v.disp(l), Msg: fmt.Sprintf(format, args...)})
}

// warnf records a warning about l, positioned like an error.
func (v *validator) warnf(l loc, format string, args ...any) {
	p := v.position(l.key)
	v.warns = append(v.warns, Error{File: p.File, Line: p.Line, Path: v.disp(l), Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) enum(l loc, val *string, def string, allowed []string) {
	if *val == "" {
		*val = def
	}
	if !slices.Contains(allowed, *val) {
		v.errorf(l, "invalid value %q: must be one of %s", *val, strings.Join(allowed, ", "))
	}
}

// absPath expands "~" in *p and requires the result to be absolute.
func (v *validator) absPath(l loc, p *string) bool {
	exp, err := expandHome(*p)
	if err != nil {
		v.errorf(l, "%v", err)
		return false
	}
	*p = exp
	if !filepath.IsAbs(exp) {
		v.errorf(l, "%q is not an absolute path (start it with / or ~/)", exp)
		return false
	}
	return true
}

// check applies every default and reports every invalid value.
func (v *validator) check(c *Config) {
	dataOK := v.checkDataDir(c)
	v.checkListen(c, dataOK)
	v.enum(at("log.level"), &c.Log.Level, "info", logLevels)
	v.enum(at("log.format"), &c.Log.Format, "text", logFormats)
	if c.Sync.Interval == 0 && !v.given(at("sync.interval")) {
		c.Sync.Interval = defaultInterval
	}
	if c.Sync.Interval < minInterval {
		v.errorf(at("sync.interval"), "%s is too short: the minimum is %s", c.Sync.Interval, minInterval)
	}
	if c.Sync.Verify == 0 && !v.given(at("sync.verify")) {
		c.Sync.Verify = defaultVerify
	}
	if c.Sync.Verify != 0 && c.Sync.Verify < minVerify {
		v.errorf(at("sync.verify"), "%s is too short: the minimum is %s (0 turns periodic verification off)", c.Sync.Verify, minVerify)
	}
	if c.Outbox.KeepDone == 0 && !v.given(at("outbox.keep_done")) {
		c.Outbox.KeepDone = defaultKeepDone
	}
	if c.Outbox.KeepDone < 0 {
		v.errorf(at("outbox.keep_done"), "%s is negative (0 keeps finished actions forever)", c.Outbox.KeepDone)
	}
	v.checkClients(c)
	v.checkAccounts(c)
}

func (v *validator) checkDataDir(c *Config) bool {
	l := at("data_dir")
	if c.DataDir == "" {
		if c.DataDir = defaultDataDir(); c.DataDir == "" {
			v.errorf(l, "not set, and no default: $XDG_DATA_HOME and $HOME are unset")
			return false
		}
		return true
	}
	return v.absPath(l, &c.DataDir)
}

func (v *validator) checkListen(c *Config, dataOK bool) {
	v.checkControl(c, dataOK)
	if !v.has(at("listen.http")) {
		c.Listen.HTTP = defaultHTTP
	}
	if !v.has(at("listen.smtp")) {
		c.Listen.SMTP = defaultSMTP
	}
	v.listenAddr(at("listen.http"), c.Listen.HTTP)
	v.listenAddr(at("listen.smtp"), c.Listen.SMTP)
	if c.Listen.HTTP != "" && c.Listen.HTTP == c.Listen.SMTP {
		v.errorf(at("listen.smtp"), "same address as listen.http (%s)", c.Listen.HTTP)
	}
	if !v.has(at("listen.imap")) {
		c.Listen.IMAP = defaultIMAP
	}
	v.listenAddr(at("listen.imap"), c.Listen.IMAP)
	for _, o := range []struct{ key, addr string }{{"listen.http", c.Listen.HTTP}, {"listen.smtp", c.Listen.SMTP}} {
		if c.Listen.IMAP != "" && c.Listen.IMAP == o.addr {
			v.errorf(at("listen.imap"), "same address as %s (%s)", o.key, o.addr)
		}
	}
	if !v.has(at("listen.caldav")) {
		c.Listen.CalDAV = defaultCalDAV
	}
	v.listenAddr(at("listen.caldav"), c.Listen.CalDAV)
	for _, o := range []struct{ key, addr string }{{"listen.http", c.Listen.HTTP}, {"listen.smtp", c.Listen.SMTP}, {"listen.imap", c.Listen.IMAP}} {
		if c.Listen.CalDAV != "" && c.Listen.CalDAV == o.addr {
			v.errorf(at("listen.caldav"), "same address as %s (%s)", o.key, o.addr)
		}
	}
	v.checkListenTLS(c.Listen.TLS)
	v.warnPlaintextListeners(c)
	if c.Listen.MetricsPublic && c.Listen.HTTP == "" {
		v.errorf(at("listen.metrics_public"), "true, but listen.http is disabled: there is no /metrics to open")
	}
}

// checkControl defaults the control socket to <data_dir>/holdover.sock
// ("" cannot disable it: the CLI needs it) and checks its length.
func (v *validator) checkControl(c *Config, dataOK bool) {
	l := at("listen.control")
	if c.Listen.Control == "" {
		if !dataOK {
			return
		}
		c.Listen.Control = filepath.Join(c.DataDir, "holdover.sock")
		if !v.has(l) {
			l = at("data_dir")
		}
	} else if !v.absPath(l, &c.Listen.Control) {
		return
	}
	if n := len(c.Listen.Control); n > maxSocketPath {
		v.errorf(l, "control socket path %q is %d bytes; Unix sockets allow at most %d (set listen.control to a shorter path)", c.Listen.Control, n, maxSocketPath)
	}
}

// listenAddr checks a host:port listener address; "" disables it.
func (v *validator) listenAddr(l loc, addr string) {
	if addr == "" {
		return
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.errorf(l, "invalid address %q: write host:port, e.g. 127.0.0.1:7878 (or \"\" to disable)", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		v.errorf(l, "invalid port %q in %q: must be a number from 1 to 65535", port, addr)
	}
}

func (v *validator) checkAccounts(c *Config) {
	if len(c.Accounts) == 0 {
		if r := v.emptiedBy; r != nil {
			v.errs = append(v.errs, Error{File: r.pos.File, Line: r.pos.Line, Path: "accounts",
				Msg: fmt.Sprintf("remove: true removes account %q, the last one: no accounts are left and holdover has nothing to sync", r.name)})
			return
		}
		v.errorf(at("accounts"), "no accounts configured; holdover has nothing to sync")
		return
	}
	keys := accountKeys(c.Accounts)
	first := map[string]int{}
	type dir struct {
		path string
		l    loc
	}
	var dirs []dir
	localUsers := map[string]string{}
	for i := range c.Accounts {
		a := &c.Accounts[i]
		l := loc{keys[i], "accounts[" + strconv.Itoa(i) + "]"}
		if a.Mail != nil && a.Mail.Local != nil && a.Mail.Local.Username != "" {
			if other, dup := localUsers[a.Mail.Local.Username]; dup {
				v.errorf(l.sub("mail").sub("local").sub("username"), "local username %q is already the login of account %q", a.Mail.Local.Username, other)
			}
			localUsers[a.Mail.Local.Username] = a.Name
		}
		if a.Calendar != nil && a.Calendar.Local != nil && a.Calendar.Local.Username != "" {
			// The same login may serve mail and calendars of one account.
			if other, dup := localUsers[a.Calendar.Local.Username]; dup && other != a.Name {
				v.errorf(l.sub("calendar").sub("local").sub("username"), "local username %q is already the login of account %q", a.Calendar.Local.Username, other)
			}
			localUsers[a.Calendar.Local.Username] = a.Name
		}
		switch {
		case a.Name == "":
			v.errorf(l, "name is required")
		case !nameRE.MatchString(a.Name):
			v.errorf(l.sub("name"), "invalid account name %q: use lowercase letters, digits and '-'", a.Name)
		default:
			if j, dup := first[a.Name]; dup {
				v.errorf(l.sub("name"), "duplicate account name %q (first defined at %s)", a.Name, v.where(keys[j]+".name", l.sub("name")))
			} else {
				first[a.Name] = i
			}
		}
		if a.Mail == nil && a.Calendar == nil && a.Files == nil &&
			!v.bad[l.sub("mail").key] && !v.bad[l.sub("calendar").key] && !v.bad[l.sub("files").key] {
			v.errorf(l, "account %q configures no service: set mail, calendar and/or files", a.Name)
		}
		if a.Mail != nil {
			v.checkMail(a.Mail, l.sub("mail"))
		}
		if a.Calendar != nil {
			v.checkCalendar(a.Calendar, l.sub("calendar"))
		}
		if a.Files != nil && v.checkFiles(a.Files, l.sub("files")) {
			dirs = append(dirs, dir{a.Files.LocalDir, l.sub("files").sub("local_dir")})
		}
	}
	// Two sync roots inside each other, or inside data_dir, would sync
	// each other's files.
	for i, d := range dirs {
		for _, e := range dirs[:i] {
			if within(e.path, d.path) || within(d.path, e.path) {
				v.errorf(d.l, "%s overlaps %s (%s) of another account", d.path, v.disp(e.l), v.where(e.l.key, d.l))
			}
		}
		if filepath.IsAbs(c.DataDir) && (within(c.DataDir, d.path) || within(d.path, c.DataDir)) {
			v.errorf(d.l, "%s overlaps data_dir %s", d.path, c.DataDir)
		}
	}
}

// within reports whether child is parent or inside it (both clean and
// absolute).
func within(parent, child string) bool {
	if parent == child {
		return true
	}
	return strings.HasPrefix(child, strings.TrimSuffix(parent, string(filepath.Separator))+string(filepath.Separator))
}

func (v *validator) checkDAV(d *DAV, l loc) {
	v.checkURL(d.URL, l)
	if d.Username == "" {
		v.errorf(l, "username is required")
	}
	v.checkSecret(&d.Secret, l)
}

func (v *validator) checkURL(raw string, l loc) {
	ul := l.sub("url")
	if raw == "" {
		v.errorf(l, "url is required")
		return
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may hold a password
		}
		v.errorf(ul, "invalid URL: %v", err)
		return
	}
	if u.User != nil {
		v.errorf(ul, "the URL must not contain a user name or password: use username and password_command, password_file or password_env")
		return
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			v.errorf(ul, "http:// would send the password in clear text to %s; use https:// (http:// is only allowed to a loopback host)", u.Hostname())
		}
	default:
		v.errorf(ul, "invalid URL %q: the scheme must be https:// (or http:// to a loopback host)", raw)
		return
	}
	if u.Hostname() == "" {
		v.errorf(ul, "invalid URL %q: no host", raw)
	}
}

var secretKeys = []string{"password_command", "password_file", "password_env", "password_credential"}

// checkSecret requires exactly one password source and normalizes it.
func (v *validator) checkSecret(s *Secret, l loc) {
	var set []string
	for i, val := range []string{s.PasswordCommand, s.PasswordFile, s.PasswordEnv, s.PasswordCredential} {
		if val != "" {
			set = append(set, secretKeys[i])
		}
	}
	switch len(set) {
	case 0:
		v.errorf(l, "no password source: set one of password_command, password_file, password_env or password_credential")
	case 1:
	default:
		for _, k := range set[1:] {
			v.errorf(l.sub(k), "%s and %s (%s) are both set: set exactly one password source", k, set[0], v.where(l.sub(set[0]).key, l.sub(k)))
		}
	}
	if s.PasswordFile != "" {
		v.absPath(l.sub("password_file"), &s.PasswordFile)
	}
	if s.PasswordEnv != "" && !envNameRE.MatchString(s.PasswordEnv) {
		v.errorf(l.sub("password_env"), "invalid environment variable name %q", s.PasswordEnv)
	}
	if s.PasswordCredential != "" {
		if msg := credentialNameError(s.PasswordCredential); msg != "" {
			v.errorf(l.sub("password_credential"), "%s", msg)
		}
	}
}

func (v *validator) checkCalendar(c *Calendar, l loc) {
	if c.CalDAV == nil {
		if !v.bad[l.sub("caldav").key] {
			v.errorf(l, "caldav is required")
		}
	} else {
		v.checkDAV(c.CalDAV, l.sub("caldav"))
	}
	v.enum(l.sub("conflict"), &c.Conflict, "ask", conflicts)
	if c.Local != nil {
		if c.Local.Username == "" {
			v.errorf(l.sub("local"), "username is required")
		}
		v.checkSecret(&c.Local.Secret, l.sub("local"))
	}
}

// checkFiles reports whether LocalDir ended up a valid absolute path.
func (v *validator) checkFiles(f *Files, l loc) bool {
	if f.WebDAV == nil {
		if !v.bad[l.sub("webdav").key] {
			v.errorf(l, "webdav is required")
		}
	} else {
		v.checkDAV(f.WebDAV, l.sub("webdav"))
	}
	v.intRange(l.sub("max_delete"), &f.MaxDelete, 50, 1, 100)
	v.intRange(l.sub("max_delete_count"), &f.MaxDeleteCount, 0, 0, 1<<31-1)
	v.intRange(l.sub("transfers"), &f.Transfers, 4, 1, 32)
	if f.Poll == 0 && !v.given(l.sub("poll")) {
		f.Poll = time.Minute
	}
	if f.Poll < minInterval {
		v.errorf(l.sub("poll"), "%s is too short: the minimum is %s", f.Poll, minInterval)
	}
	if f.LocalDir == "" {
		v.errorf(l, "local_dir is required")
		return false
	}
	return v.absPath(l.sub("local_dir"), &f.LocalDir)
}

// intRange checks an integer key, setting def when it is not given.
func (v *validator) intRange(l loc, val *int, def, lo, hi int) {
	if !v.given(l) && *val == 0 {
		*val = def
		return
	}
	if *val < lo || *val > hi {
		v.errorf(l, "%d is out of range (%d–%d)", *val, lo, hi)
	}
}

// isLoopback reports whether host is "localhost" or a loopback IP
// address (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	host = strings.TrimSuffix(host, ".")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(strings.Trim(host, "[]"))
	return err == nil && ip.Unmap().IsLoopback()
}
