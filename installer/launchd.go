package installer

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// RenderLaunchdPlist returns the launchd property list Install writes on
// macOS: a daemon (/Library/LaunchDaemons/holdover.plist, running as
// ServiceUser) for System scope, an agent
// (~/Library/LaunchAgents/holdover.plist) for User scope. It starts at load,
// is restarted when it exits unsuccessfully (KeepAlive/SuccessfulExit=false,
// at most every 5 s, like Restart=on-failure) and logs stdout/stderr to
// LogDir. Defaults are the macOS ones whatever the host OS.
func RenderLaunchdPlist(opts Options) ([]byte, error) {
	r, err := opts.resolve("darwin")
	if err != nil {
		return nil, err
	}
	return r.launchdPlist(), nil
}

var plistEscaper = strings.NewReplacer(
	`&`, "&amp;",
	`<`, "&lt;",
	`>`, "&gt;",
	`"`, "&quot;",
	`'`, "&apos;",
)

func (r *resolved) launchdPlist() []byte {
	var b bytes.Buffer
	line := func(indent int, format string, a ...any) {
		b.WriteString(strings.Repeat("\t", indent))
		fmt.Fprintf(&b, format+"\n", a...)
	}
	str := func(indent int, s string) { line(indent, "<string>%s</string>", plistEscaper.Replace(s)) }
	key := func(indent int, k string) { line(indent, "<key>%s</key>", k) }

	line(0, `<?xml version="1.0" encoding="UTF-8"?>`)
	line(0, `<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">`)
	line(0, `<!-- holdover.plist: written by holdover install (%s scope); reinstalling replaces it. -->`, r.Scope)
	line(0, `<plist version="1.0">`)
	line(0, `<dict>`)
	key(1, "Label")
	str(1, ServiceName)
	key(1, "ProgramArguments")
	line(1, "<array>")
	for _, a := range []string{r.Executable, "run", "--config", r.ConfigPath} {
		str(2, a)
	}
	line(1, "</array>")
	if r.Scope == System {
		key(1, "UserName")
		str(1, r.ServiceUser)
	}
	if env := r.launchdEnv(); len(env) > 0 {
		key(1, "EnvironmentVariables")
		line(1, "<dict>")
		for _, kv := range env {
			key(2, kv[0])
			str(2, kv[1])
		}
		line(1, "</dict>")
	}
	key(1, "RunAtLoad")
	line(1, "<true/>")
	key(1, "KeepAlive")
	line(1, "<dict>")
	key(2, "SuccessfulExit")
	line(2, "<false/>")
	line(1, "</dict>")
	key(1, "ThrottleInterval")
	line(1, "<integer>5</integer>")
	key(1, "Umask")
	line(1, "<integer>63</integer>") // 0077
	key(1, "StandardOutPath")
	str(1, path.Join(r.LogDir, ServiceName+".out.log"))
	key(1, "StandardErrorPath")
	str(1, path.Join(r.LogDir, ServiceName+".err.log"))
	line(0, `</dict>`)
	line(0, `</plist>`)
	return b.Bytes()
}

// launchdEnv is the plist's EnvironmentVariables, in a fixed order.
// launchd has no LoadCredential=; CREDENTIALS_DIRECTORY points at the
// credentials directory itself so that "password_credential: NAME" reads
// the same $CREDENTIALS_DIRECTORY/NAME as under systemd.
func (r *resolved) launchdEnv() [][2]string {
	var env [][2]string
	if len(r.Credentials) > 0 {
		env = append(env, [2]string{"CREDENTIALS_DIRECTORY", r.CredentialsDir})
	}
	if r.SetConfigEnv {
		env = append(env, [2]string{"HOLDOVER_CONFIG", r.ConfigPath})
	}
	if r.Scope == System && path.Base(r.DataDir) == ServiceName {
		// Without data_dir in the configuration holdover uses
		// $XDG_DATA_HOME/holdover: make that DataDir.
		env = append(env, [2]string{"XDG_DATA_HOME", path.Dir(r.DataDir)})
	}
	return env
}
