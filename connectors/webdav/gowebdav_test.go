package webdav_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"

	gowebdav "github.com/emersion/go-webdav"

	"github.com/holdover/holdover/connectors/webdav"
)

// go-webdav's server answers PROPFIND with Depth: infinity, which Apache
// is configured to refuse: the one-request listing is specified here.
func TestGoWebDAVServerListsTheWholeTreeInOneRequest(t *testing.T) {
	var requests, infinity atomic.Int32
	h := &gowebdav.Handler{FileSystem: gowebdav.LocalFileSystem(t.TempDir())}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Method == "PROPFIND" && r.Header.Get("Depth") == "infinity" {
			infinity.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	c, err := webdav.New(webdav.Options{URL: srv.URL + "/"}) // go-webdav has no auth of its own
	if err != nil {
		t.Fatal(err)
	}
	want := seedOddTree(t, c)

	requests.Store(0)
	got := list(t, c)
	if s := shape(got); !slices.Equal(s, want) {
		t.Fatalf("List =\n%q\nwant\n%q", s, want)
	}
	if n, m := requests.Load(), infinity.Load(); n != 1 || m != 1 {
		t.Fatalf("List made %d requests (%d with depth infinity), want one", n, m)
	}
	for p, f := range got {
		if !f.Dir && f.ETag == "" {
			t.Errorf("%q has no ETag", p)
		}
	}

	// The same client keeps using depth infinity: nothing was refused.
	requests.Store(0)
	list(t, c)
	if n := requests.Load(); n != 1 {
		t.Fatalf("second List made %d requests", n)
	}

	if body, _ := get(t, c, "ünïcødé/naïve 日本.txt"); body != "content of ünïcødé/naïve 日本.txt" {
		t.Fatalf("Get = %q", body)
	}
	if err := c.Move(context.Background(), "docs", "docs moved", ""); err != nil {
		t.Fatalf("Move of a folder: %v", err)
	}
	if _, err := c.Stat(context.Background(), "docs moved/sub dir/b c.txt"); err != nil {
		t.Fatalf("after moving the folder: %v", err)
	}
}
