package demo

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-webdav"

	"github.com/holdover/holdover/sync/filesync"
)

// fileProvider is the demo's files provider: go-webdav's WebDAV server
// over a temp folder on loopback, with Basic auth. go-webdav's plain
// WebDAV handler does not check If-Match / If-None-Match, so a thin layer
// here does, as every real server does: without it a replayed edit would
// overwrite the phone's, which is the very thing holdover must never do.
type fileProvider struct {
	root     string
	user     string
	password string
	srv      *http.Server
	ln       net.Listener
}

func startWebDAV(root, user, password string) (*fileProvider, error) {
	p := &fileProvider{root: root, user: user, password: password}
	if err := os.MkdirAll(root, 0o700); err != nil {
		return nil, err
	}
	var err error
	if p.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		return nil, err
	}
	dav := &webdav.Handler{FileSystem: webdav.LocalFileSystem(root)}
	p.srv = &http.Server{Handler: p.auth(p.preconditions(dav)), ReadHeaderTimeout: 10 * time.Second}
	go p.srv.Serve(p.ln)
	return p, nil
}

func (p *fileProvider) addr() string { return p.ln.Addr().String() }

func (p *fileProvider) close() { p.srv.Close() }

func (p *fileProvider) auth(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, pw, ok := r.BasicAuth()
		if !ok || u != p.user || subtle.ConstantTimeCompare([]byte(pw), []byte(p.password)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="holdover demo"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// etagOf is the ETag go-webdav's LocalFileSystem gives a file ("" when
// it does not exist).
func (p *fileProvider) etagOf(urlPath string) string {
	fi, err := os.Stat(p.local(urlPath))
	if err != nil {
		return ""
	}
	return fmt.Sprintf(`"%x%x"`, fi.ModTime().UnixNano(), fi.Size())
}

func (p *fileProvider) local(urlPath string) string {
	return filepath.Join(p.root, filepath.FromSlash(strings.TrimPrefix(filepath.Clean("/"+urlPath), "/")))
}

// ifTag reads the ETag of a tagged If header: <url> (["etag"]).
var ifTag = regexp.MustCompile(`\(\["?(.*?)"?\]\)`)

func (p *fileProvider) preconditions(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPut, http.MethodDelete, "MOVE":
		default:
			next.ServeHTTP(w, r)
			return
		}
		cur := p.etagOf(r.URL.Path)
		want := r.Header.Get("If-Match")
		if m := ifTag.FindStringSubmatch(r.Header.Get("If")); m != nil {
			want = `"` + m[1] + `"`
		}
		switch {
		case want != "" && strings.TrimPrefix(want, "W/") != cur:
			http.Error(w, "precondition failed", http.StatusPreconditionFailed)
		case r.Header.Get("If-None-Match") == "*" && cur != "":
			http.Error(w, "precondition failed", http.StatusPreconditionFailed)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// write changes a file on the provider directly (another device of the
// user).
func (p *fileProvider) write(path, content string) error {
	full := p.local(path)
	if err := os.MkdirAll(filepath.Dir(full), 0o700); err != nil {
		return err
	}
	return os.WriteFile(full, []byte(content), 0o600)
}

func (p *fileProvider) read(path string) (string, bool) {
	b, err := os.ReadFile(p.local(path))
	return string(b), err == nil
}

// seed puts a few files in the shared folder.
func (p *fileProvider) seed() error {
	for path, content := range demoFiles {
		if err := p.write(path, content); err != nil {
			return err
		}
	}
	return nil
}

var demoFiles = map[string]string{
	"Budget 2027.txt":         "Budget 2027\nTravel: 12,000\nTraining: 8,000\n",
	"Notes/kickoff.md":        "# Kickoff\n- agree on the scope\n",
	"Notes/Customers/acme.md": "# ACME\nContact: Jo\n",
}

// conflictCopy returns the name of the conflict copy of "Budget 2027.txt"
// on the provider ("" when there is none).
func (p *fileProvider) conflictCopy() string {
	entries, _ := os.ReadDir(p.root)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "Budget 2027.conflict-") {
			return e.Name()
		}
	}
	return ""
}

// localFiles counts the files in the synced folder.
func (d *demo) localFiles() int {
	n := 0
	filepath.WalkDir(d.folder, func(_ string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func (d *demo) showFiles() {
	d.say("Files mirrored into %s:", d.folder)
	filepath.WalkDir(d.folder, func(p string, e os.DirEntry, err error) error {
		if err == nil && !e.IsDir() {
			rel, _ := filepath.Rel(d.folder, p)
			d.say("  %s", filepath.ToSlash(rel))
		}
		return nil
	})
}

const (
	budgetOffline = "Budget 2027\nTravel: 15,000 (raised on the plane)\nTraining: 8,000\n"
	budgetPhone   = "Budget 2027\nTravel: 10,000 (cut from the phone)\nTraining: 8,000\n"
	kickoffEdit   = "# Kickoff\n- agree on the scope\n- written offline: ship in March\n"
	tripPlan      = "Trip plan: Lisbon, 3-5 March\n"
)

// editFilesOffline changes the folder while the provider is away (any
// program could: holdover's watcher notices), and the phone changes the
// budget on the provider meanwhile.
func (d *demo) editFilesOffline(ctx context.Context) error {
	for path, content := range map[string]string{"Notes/kickoff.md": kickoffEdit, "Trip plan.txt": tripPlan, "Budget 2027.txt": budgetOffline} {
		if err := os.WriteFile(filepath.Join(d.folder, filepath.FromSlash(path)), []byte(content), 0o644); err != nil {
			return err
		}
	}
	d.say("  in %s: edited Notes/kickoff.md and Budget 2027.txt, created Trip plan.txt", d.folder)
	if err := d.until(ctx, "the file changes to be queued", func() bool {
		n, err := d.db.OpenOutboxCount(ctx, "demo", filesync.Kinds)
		return err == nil && n == 3
	}); err != nil {
		return err
	}
	if err := d.files.write("Budget 2027.txt", budgetPhone); err != nil {
		return err
	}
	d.say("  meanwhile your phone changed Budget 2027.txt on the provider too")
	return nil
}

// checkFiles asks the provider whether the offline file changes arrived,
// with both versions of the budget kept.
func (d *demo) checkFiles() error {
	if got, _ := d.files.read("Notes/kickoff.md"); got != kickoffEdit {
		return fmt.Errorf("demo: the provider's Notes/kickoff.md is %q", got)
	}
	if got, _ := d.files.read("Trip plan.txt"); got != tripPlan {
		return fmt.Errorf("demo: the provider's Trip plan.txt is %q", got)
	}
	if got, _ := d.files.read("Budget 2027.txt"); got != budgetPhone {
		return fmt.Errorf("demo: the provider's Budget 2027.txt is %q, want the phone's version", got)
	}
	copyName := d.files.conflictCopy()
	if got, _ := d.files.read(copyName); copyName == "" || got != budgetOffline {
		return fmt.Errorf("demo: no conflict copy with your budget on the provider (%q)", copyName)
	}
	if got, _ := os.ReadFile(filepath.Join(d.folder, copyName)); string(got) != budgetOffline {
		return fmt.Errorf("demo: the folder lacks the conflict copy %s", copyName)
	}
	d.say("The files provider has your kickoff notes and trip plan; Budget 2027.txt, changed on")
	d.say("both sides, is kept twice: the phone's under its name, yours as %q.", copyName)
	return nil
}
