package installer

import (
	"bytes"
	"encoding/xml"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

const testExe = "/usr/local/bin/holdover"

// setUserEnv pins the environment user-scope defaults are computed from.
func setUserEnv(t *testing.T, home string) {
	t.Helper()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_DATA_HOME", "")
}

type goldenCase struct {
	name   string
	render func(Options) ([]byte, error)
	opts   Options
}

func goldenCases() []goldenCase {
	creds := []string{"imap-personal", "smtp_work"}
	var cs []goldenCase
	for _, r := range []struct {
		kind   string
		render func(Options) ([]byte, error)
	}{{"systemd", RenderSystemdUnit}, {"launchd", RenderLaunchdPlist}} {
		for _, scope := range []Scope{System, User} {
			base := Options{Scope: scope, Executable: testExe}
			withCreds := base
			withCreds.Credentials = creds
			withCreds.SetConfigEnv = true
			cs = append(cs,
				goldenCase{r.kind + "-" + scope.String(), r.render, base},
				goldenCase{r.kind + "-" + scope.String() + "-credentials", r.render, withCreds})
		}
	}
	return cs
}

// TestGolden compares the rendered units and plists with
// testdata/*.golden; go test ./installer -run TestGolden -update rewrites
// them.
func TestGolden(t *testing.T) {
	setUserEnv(t, "/home/alice")
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.render(c.opts)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(got, []byte("{{")) {
				t.Errorf("output contains {{, kardianos' template engine would interpret it")
			}
			ext := ".service.golden"
			if strings.HasPrefix(c.name, "launchd") {
				ext = ".plist.golden"
				checkXML(t, got)
			}
			file := filepath.Join("testdata", c.name+ext)
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./installer -run TestGolden -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the rendered output (rerun with -update if intended)\n--- got ---\n%s", file, got)
			}
		})
	}
}

func checkXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	d.Strict = true
	for {
		_, err := d.Token()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatalf("plist is not well-formed XML: %v", err)
		}
	}
}

func TestRenderSystemdContent(t *testing.T) {
	sys, err := RenderSystemdUnit(Options{Scope: System, Executable: testExe, Credentials: []string{"imap"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"User=holdover\n", "Group=holdover\n",
		"ExecStart=/usr/local/bin/holdover run --config /etc/holdover/config.yaml\n",
		"StateDirectory=holdover\n", "ConfigurationDirectory=holdover\n",
		"Restart=on-failure\n", "RestartSec=5s\n",
		"After=network-online.target\n", "Wants=network-online.target\n",
		"NoNewPrivileges=yes\n", "ProtectSystem=strict\n", "ProtectHome=yes\n", "PrivateTmp=yes\n",
		"ReadWritePaths=/var/lib/holdover\n", "UMask=0077\n",
		"LoadCredential=imap:/etc/holdover/credentials/imap\n",
		"WantedBy=multi-user.target\n",
	} {
		if !strings.Contains(string(sys), want) {
			t.Errorf("system unit lacks %q", want)
		}
	}
	if strings.Count(string(sys), "ReadWritePaths=") != 1 {
		t.Error("system unit must have exactly one ReadWritePaths=")
	}
	if strings.Contains(string(sys), "HOLDOVER_CONFIG") {
		t.Error("HOLDOVER_CONFIG set without SetConfigEnv")
	}

	setUserEnv(t, "/home/bob")
	t.Setenv("XDG_CONFIG_HOME", "/xdg/cfg")
	usr, err := RenderSystemdUnit(Options{Scope: User, Executable: testExe})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"ExecStart=/usr/local/bin/holdover run --config /xdg/cfg/holdover/config.yaml\n",
		"WantedBy=default.target\n", "Restart=on-failure\n",
	} {
		if !strings.Contains(string(usr), want) {
			t.Errorf("user unit lacks %q", want)
		}
	}
	for _, bad := range []string{"User=", "Group=", "multi-user.target", "ProtectSystem"} {
		if strings.Contains(string(usr), bad) {
			t.Errorf("user unit contains %q", bad)
		}
	}
}

func TestSystemdQuoting(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/holdover":      "/usr/bin/holdover",
		"--config":               "--config",
		"/opt/my apps/holdover":  `"/opt/my apps/holdover"`,
		`/opt/50%/$HOME/"q"\x`:   `"/opt/50%%/$$HOME/\"q\"\\x"`,
		"/opt/semi;colon/holder": `"/opt/semi;colon/holder"`,
		"":                       `""`,
	} {
		if got := systemdQuote(in); got != want {
			t.Errorf("systemdQuote(%q) = %s, want %s", in, got, want)
		}
	}
	if got, want := systemdEnvQuote(`A=/x y/50%$`), `"A=/x y/50%%$"`; got != want {
		t.Errorf("systemdEnvQuote = %s, want %s", got, want)
	}
}

func TestRenderPlistEscapes(t *testing.T) {
	out, err := RenderLaunchdPlist(Options{Scope: System, Executable: `/Applications/A & <B>/holdover`})
	if err != nil {
		t.Fatal(err)
	}
	checkXML(t, out)
	if !strings.Contains(string(out), "<string>/Applications/A &amp; &lt;B&gt;/holdover</string>") {
		t.Errorf("executable not escaped:\n%s", out)
	}
}

func TestRenderRejectsBadOptions(t *testing.T) {
	setUserEnv(t, "/home/alice")
	for name, o := range map[string]Options{
		"no scope":           {Executable: testExe},
		"relative exe":       {Scope: System, Executable: "bin/holdover"},
		"relative config":    {Scope: System, Executable: testExe, ConfigPath: "config.yaml"},
		"newline":            {Scope: System, Executable: "/usr/bin/hold\nExecStartPre=/bin/evil"},
		"template":           {Scope: System, Executable: "/usr/bin/{{Path}}"},
		"credential slash":   {Scope: System, Executable: testExe, Credentials: []string{"a/b"}},
		"credential dotdot":  {Scope: System, Executable: testExe, Credentials: []string{".."}},
		"credential twice":   {Scope: System, Executable: testExe, Credentials: []string{"a", "a"}},
		"bad account":        {Scope: System, Executable: testExe, ServiceUser: "Hold Over"},
		"creds dir with tab": {Scope: System, Executable: testExe, Credentials: []string{"a"}, CredentialsDir: "/etc/a\tb"},
		"system data dir":    {Scope: System, Executable: testExe, DataDir: "/srv/holdover"},
	} {
		if _, err := RenderSystemdUnit(o); err == nil {
			t.Errorf("%s: RenderSystemdUnit accepted %+v", name, o)
		}
	}
}

func TestDefaultPaths(t *testing.T) {
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	home := func() string { return "/home/alice" }

	sys := defaultPathsFor("linux", System, getenv, home)
	want := Paths{"/etc/holdover/config.yaml", "/etc/holdover/conf.d", "/var/lib/holdover", "/etc/holdover/credentials", ""}
	if sys != want {
		t.Errorf("linux system = %+v, want %+v", sys, want)
	}
	usr := defaultPathsFor("linux", User, getenv, home)
	want = Paths{"/home/alice/.config/holdover/config.yaml", "/home/alice/.config/holdover/conf.d",
		"/home/alice/.local/share/holdover", "/home/alice/.config/holdover/credentials", ""}
	if usr != want {
		t.Errorf("linux user = %+v, want %+v", usr, want)
	}
	env["XDG_CONFIG_HOME"], env["XDG_DATA_HOME"] = "/x/cfg", "relative/ignored"
	usr = defaultPathsFor("linux", User, getenv, home)
	if usr.ConfigFile != "/x/cfg/holdover/config.yaml" || usr.ConfDir != "/x/cfg/holdover/conf.d" ||
		usr.DataDir != "/home/alice/.local/share/holdover" {
		t.Errorf("linux user with XDG = %+v", usr)
	}
	if d := defaultPathsFor("darwin", System, getenv, home); d.LogDir != "/var/log/holdover" || d.ConfigFile != sys.ConfigFile {
		t.Errorf("darwin system = %+v", d)
	}
	if d := defaultPathsFor("darwin", User, getenv, home); d.LogDir != "/home/alice/Library/Logs/holdover" {
		t.Errorf("darwin user = %+v", d)
	}
	env["ProgramData"] = `D:\PD\`
	if w := defaultPathsFor("windows", System, getenv, home); w.ConfigFile != `D:\PD\holdover\config.yaml` || w.DataDir != `D:\PD\holdover\data` {
		t.Errorf("windows system = %+v", w)
	}
	if p := DefaultPaths(System); p.ConfigFile == "" {
		t.Error("DefaultPaths(System) is empty")
	}
}

func TestParseScope(t *testing.T) {
	for in, want := range map[string]Scope{"system": System, "User": User} {
		if got, err := ParseScope(in); err != nil || got != want {
			t.Errorf("ParseScope(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseScope("global"); err == nil {
		t.Error("ParseScope accepted global")
	}
}
