package archtest

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"testing"
)

func TestImportRulesHoldForTheModule(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps", Module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p Package
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	ours := 0
	for _, p := range pkgs {
		if _, ok := rel(p.ImportPath); ok {
			ours++
		}
	}
	if ours < 5 {
		t.Fatalf("go list found only %d holdover packages; the check would prove nothing", ours)
	}
	for _, v := range Check(pkgs) {
		t.Errorf("%s imports %s: %s", v.Package, v.Import, v.Rule)
	}
}

func TestCheckCatchesEachKindOfViolation(t *testing.T) {
	m := func(s string) string { return Module + "/" + s }
	cases := []struct {
		name string
		pkg  Package
		want int
	}{
		{"store importing sync", Package{ImportPath: m("store"), Deps: []string{m("sync"), m("internal/clock")}}, 1},
		{"sync importing go-imap", Package{ImportPath: m("sync"), Deps: []string{"github.com/emersion/go-imap/v2/imapclient", m("store")}}, 1},
		{"sync importing a connector", Package{ImportPath: m("sync/mail"), Deps: []string{m("connectors/imap")}}, 1},
		{"connector importing store directly", Package{ImportPath: m("connectors/imap"), Imports: []string{m("store"), m("sync")}, Deps: []string{m("store"), m("sync")}}, 1},
		{"connector reaching store through sync is fine", Package{ImportPath: m("connectors/imap"), Imports: []string{m("sync")}, Deps: []string{m("store"), m("sync")}}, 0},
		{"endpoint importing daemon", Package{ImportPath: m("endpoints/smtpd"), Deps: []string{m("daemon")}}, 1},
		{"config importing store", Package{ImportPath: m("config"), Deps: []string{m("store")}}, 1},
		{"installer importing a connector", Package{ImportPath: m("installer"), Deps: []string{m("connectors/webdav")}}, 1},
		{"daemon may import everything", Package{ImportPath: m("daemon"), Deps: []string{m("connectors/imap"), m("endpoints/control"), m("store"), m("sync")}}, 0},
		{"cmd may import daemon", Package{ImportPath: m("cmd/holdover"), Deps: []string{m("daemon"), m("config")}}, 0},
		{"foreign packages are ignored", Package{ImportPath: "example.com/x", Deps: []string{m("daemon")}}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Check([]Package{c.pkg}); len(got) != c.want {
				t.Fatalf("got %d violations %v, want %d", len(got), got, c.want)
			}
		})
	}
}
