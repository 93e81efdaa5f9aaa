// Package archtest checks the import rules of ARCHITECTURE.md against the
// real package graph (go list -deps), so a violation fails `make test`
// instead of waiting for a reviewer.
//
// The rules, for packages under github.com/holdover/holdover:
//   - store and config depend on nothing of holdover but internal/...
//   - internal/... depends on nothing of holdover outside internal/...
//   - sync/... depends on no connectors, endpoints, daemon, installer,
//     config, nor any protocol library (go-imap, go-smtp, go-webdav,
//     fsnotify)
//   - connectors/... never import store, endpoints, daemon
//   - endpoints/... never depend on connectors, daemon, installer
//   - only daemon/... (the composition root and its demo) and cmd/...
//     depend on connectors/... and on daemon.
package archtest

import "strings"

// Module is the module path every rule is relative to.
const Module = "github.com/holdover/holdover"

// Package is a package with its direct imports and transitive deps.
type Package struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

// Violation is one broken rule.
type Violation struct {
	Package string
	Import  string
	Rule    string
}

var protocolLibs = []string{
	"github.com/emersion/go-imap", "github.com/emersion/go-smtp",
	"github.com/emersion/go-webdav", "github.com/fsnotify/fsnotify",
}

// rel returns p relative to the module ("" for the module root) and
// whether p is in the module.
func rel(p string) (string, bool) {
	if p == Module {
		return "", true
	}
	if strings.HasPrefix(p, Module+"/") {
		return strings.TrimPrefix(p, Module+"/"), true
	}
	return "", false
}

// under reports whether the module-relative path r is dir or inside it.
func under(r, dir string) bool { return r == dir || strings.HasPrefix(r, dir+"/") }

// Check applies every rule to pkgs; a dependency breaking several rules is
// reported once, under the first.
func Check(pkgs []Package) []Violation {
	var vs []Violation
	add := func(p, imp, rule string) { vs = append(vs, Violation{p, imp, rule}) }
	for _, p := range pkgs {
		self, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		for _, d := range p.Deps {
			dr, ours := rel(d)
			switch {
			case (under(self, "store") || under(self, "config") || under(self, "internal")) && ours && !under(dr, "internal"):
				add(p.ImportPath, d, "store, config and internal depend only on internal/...")
			case under(self, "sync") && ours && !(under(dr, "sync") || under(dr, "store") || under(dr, "internal")):
				add(p.ImportPath, d, "sync depends only on store and internal/...")
			case under(self, "sync") && !ours && isProtocolLib(d):
				add(p.ImportPath, d, "sync never depends on a protocol library")
			case under(self, "endpoints") && ours && (under(dr, "connectors") || under(dr, "daemon") || under(dr, "installer")):
				add(p.ImportPath, d, "endpoints never depend on connectors, daemon or installer")
			case ours && (under(dr, "connectors") || dr == "daemon") && !(under(self, "daemon") || under(self, "cmd") || under(self, "connectors")):
				add(p.ImportPath, d, "only daemon and cmd know connectors and daemon")
			}
		}
		if under(self, "connectors") {
			for _, imp := range p.Imports {
				if ir, ours := rel(imp); ours && (under(ir, "store") || under(ir, "endpoints") || ir == "daemon") {
					add(p.ImportPath, imp, "connectors never import store, endpoints or daemon")
				}
			}
		}
	}
	return vs
}

func isProtocolLib(p string) bool {
	for _, l := range protocolLibs {
		if p == l || strings.HasPrefix(p, l+"/") {
			return true
		}
	}
	return false
}
