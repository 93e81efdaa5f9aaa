package filesync_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/holdover/holdover/connectors/localfs"
	"github.com/holdover/holdover/connectors/webdav"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/filesync"
)

// hostileHrefs are names a real server will not store but a hostile or
// broken one can send: none may be written, and nothing may appear
// outside the folder. The first four leave the root once decoded: the
// connector drops them (it never maps an href outside its root); the
// others are refused by the local folder's name rules and reported.
var hostileHrefs = []string{
	"/dav/..%2F..%2Fescape.txt",
	"/dav/sub/..%2F..%2F..%2Fescape2.txt",
	"/dav/%2Fetc%2Fescape3.txt",
	"/dav/nul%00byte.txt",
	"/dav/ctrl%07bell.txt",
	"/dav/%E2%80%AEgnp.exe",
	"/dav/back%5Cslash.txt",
	"/dav/..",
}

func hostileServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case "PROPFIND":
			if r.Header.Get("Depth") == "infinity" {
				http.Error(w, "no", http.StatusForbidden)
				return
			}
			w.Header().Set("Content-Type", "application/xml; charset=utf-8")
			w.WriteHeader(http.StatusMultiStatus)
			var b strings.Builder
			b.WriteString(`<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:">`)
			entry := func(href string, dir bool) {
				rt, extra := "", `<D:getcontentlength>4</D:getcontentlength><D:getetag>"e1"</D:getetag>`
				if dir {
					rt, extra = "<D:collection/>", ""
				}
				fmt.Fprintf(&b, `<D:response><D:href>%s</D:href><D:propstat><D:prop><D:resourcetype>%s</D:resourcetype>%s<D:getlastmodified>Mon, 30 Nov 2026 10:00:00 GMT</D:getlastmodified></D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response>`, href, rt, extra)
			}
			if r.URL.EscapedPath() == "/dav/" {
				entry("/dav/", true)
				entry("/dav/ok.txt", false)
				entry("/dav/sub/", true)
				for _, h := range hostileHrefs {
					if !strings.HasPrefix(h, "/dav/sub/") {
						entry(h, false)
					}
				}
			} else {
				entry("/dav/sub/", true)
				entry("/dav/sub/..%2F..%2F..%2Fescape2.txt", false)
			}
			b.WriteString(`</D:multistatus>`)
			w.Write([]byte(b.String()))
		case http.MethodGet:
			w.Header().Set("ETag", `"e1"`)
			w.Write([]byte("evil"))
		default:
			http.Error(w, "read-only", http.StatusForbidden)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestHostileRemoteNamesAreRefusedAndNothingLeavesTheFolder(t *testing.T) {
	srv := hostileServer(t)
	outer := t.TempDir()
	dir := filepath.Join(outer, "a", "b", "Sync")
	os.MkdirAll(dir, 0o755)
	remote, err := webdav.New(webdav.Options{URL: srv.URL + "/dav/"})
	if err != nil {
		t.Fatal(err)
	}
	local, err := localfs.Open(dir, localfs.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "h.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.EnsureAccounts(context.Background(), []string{"work"})
	eng := filesync.New(filesync.Options{Account: "work", DB: db, Remote: remote, Local: local})
	st, err := eng.Sync(context.Background(), filesync.SyncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Downloaded != 1 {
		t.Errorf("downloaded %d files, want only ok.txt", st.Downloaded)
	}
	var found []string
	filepath.WalkDir(outer, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, strings.TrimPrefix(p, outer))
		}
		return nil
	})
	if len(found) != 1 || found[0] != "/a/b/Sync/ok.txt" {
		t.Errorf("files written: %v, want only /a/b/Sync/ok.txt", found)
	}
	root, _ := db.FileRoot(context.Background(), "work")
	if len(root.Problems) != 4 {
		t.Errorf("%d problems reported, want one per hostile name: %+v", len(root.Problems), root.Problems)
	}
	for _, p := range root.Problems {
		if p.Side != "remote" || strings.ContainsFunc(p.Path, func(r rune) bool { return r < ' ' || r == 0x202e }) {
			t.Errorf("problem %+v: a control character would reach the terminal of `files status`", p)
		}
	}
}
