package installer

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// RenderSystemdUnit returns the holdover.service unit for opts.Scope, as
// Install writes it on Linux: a hardened system unit running as
// ServiceUser (WantedBy=multi-user.target), or a user unit
// (WantedBy=default.target, no User=). Defaults are the Linux ones
// whatever the host OS, so the output only depends on opts (and, for User
// scope without ConfigPath, on $HOME/$XDG_CONFIG_HOME).
func RenderSystemdUnit(opts Options) ([]byte, error) {
	r, err := opts.resolve("linux")
	if err != nil {
		return nil, err
	}
	return r.systemdUnit(), nil
}

// systemdUnit renders the unit. The text is built here rather than by
// kardianos' template engine so that it is exactly what RenderSystemdUnit
// returns; validate has made sure no value contains "{{".
func (r *resolved) systemdUnit() []byte {
	var b bytes.Buffer
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	system := r.Scope == System
	line("# holdover.service: written by holdover install (%s scope).", r.Scope)
	line("# Reinstalling replaces this file; put local changes in a drop-in")
	line("# (systemctl %sedit holdover.service) instead of editing it.", map[bool]string{true: "", false: "--user "}[system])
	line("")
	line("[Unit]")
	line("Description=holdover local-first sync daemon")
	if system {
		line("After=network-online.target")
		line("Wants=network-online.target")
	}
	line("")
	line("[Service]")
	line("Type=simple")
	if system {
		line("User=%s", r.ServiceUser)
		line("Group=%s", r.ServiceUser)
	}
	line("ExecStart=%s", systemdCommand(r.Executable, "run", "--config", r.ConfigPath))
	line("Restart=on-failure")
	line("RestartSec=5s")
	line("# 78 (EX_CONFIG): the configuration is invalid; restarting cannot fix it.")
	line("RestartPreventExitStatus=78")
	if system {
		line("# Without data_dir in the configuration holdover uses")
		line("# $XDG_DATA_HOME/holdover, which this makes /var/lib/holdover.")
		line("Environment=%s", systemdEnvQuote("XDG_DATA_HOME="+path.Dir(r.DataDir)))
	}
	if r.SetConfigEnv {
		line("Environment=%s", systemdEnvQuote("HOLDOVER_CONFIG="+r.ConfigPath))
	}
	if len(r.Credentials) > 0 {
		line("# A configuration refers to each credential as")
		line("# \"password_credential: NAME\", read from $CREDENTIALS_DIRECTORY/NAME.")
		for _, c := range r.Credentials {
			line("LoadCredential=%s:%s", c, systemdEscapeSpecifiers(path.Join(r.CredentialsDir, c)))
		}
	}
	line("UMask=0077")
	line("NoNewPrivileges=yes")
	if system {
		r.systemdHardening(line)
	}
	line("")
	line("[Install]")
	if system {
		line("WantedBy=multi-user.target")
	} else {
		line("WantedBy=default.target")
	}
	return b.Bytes()
}

// systemdHardening writes the sandbox of the system unit. Everything here is
// cheap and safe for a Go network daemon that may run a password_command
// helper: MemoryDenyWriteExecute= and SystemCallFilter= are left out on
// purpose because helpers with a JIT (node-based password managers) would
// crash under them. User units get none of the namespace options, which
// need unprivileged user namespaces that many distributions restrict.
func (r *resolved) systemdHardening(line func(string, ...any)) {
	line("StateDirectory=holdover")
	line("StateDirectoryMode=0750")
	line("ConfigurationDirectory=holdover")
	line("ConfigurationDirectoryMode=0750")
	line("WorkingDirectory=/var/lib/holdover")
	line("ProtectSystem=strict")
	line("ReadWritePaths=/var/lib/holdover")
	line("ProtectHome=yes")
	line("PrivateTmp=yes")
	line("PrivateDevices=yes")
	line("ProtectKernelTunables=yes")
	line("ProtectKernelModules=yes")
	line("ProtectKernelLogs=yes")
	line("ProtectControlGroups=yes")
	line("ProtectClock=yes")
	line("ProtectHostname=yes")
	line("RestrictSUIDSGID=yes")
	line("RestrictRealtime=yes")
	line("RestrictNamespaces=yes")
	line("LockPersonality=yes")
	line("SystemCallArchitectures=native")
	line("RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK")
}

// systemdCommand joins a command line for ExecStart=, quoting where needed.
func systemdCommand(args ...string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = systemdQuote(a)
	}
	return strings.Join(q, " ")
}

// systemdQuote makes s one word of an ExecStart= command line: a word with
// anything but plain path characters is double-quoted, with "\" and "\""
// backslash-escaped, "%" (specifiers) doubled and "$" (environment
// variable expansion) doubled.
func systemdQuote(s string) string {
	plain := s != ""
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("/_.,:+=@-", c)) {
			plain = false
			break
		}
	}
	if plain {
		return s
	}
	s = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%", "$", "$$").Replace(s)
	return `"` + s + `"`
}

// systemdEnvQuote quotes one Environment= assignment. Environment= expands
// specifiers and C escapes but not "$", so "$" stays as it is.
func systemdEnvQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "%", "%%").Replace(s) + `"`
}

// systemdEscapeSpecifiers escapes "%" in a value that is taken verbatim
// except for specifier expansion (LoadCredential= paths).
func systemdEscapeSpecifiers(s string) string {
	return strings.ReplaceAll(s, "%", "%%")
}
