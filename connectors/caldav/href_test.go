package caldav

import (
	"strings"
	"testing"
)

func TestResolveHref(t *testing.T) {
	c, err := New(Config{URL: "https://dav.example.org/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, base, href, want string
		wantErr                bool
	}{
		{name: "plain path stays", base: "/", href: "/alice/work/x.ics", want: "/alice/work/x.ics"},
		{name: "Radicale's %40 and our @ are one form", base: "/", href: "/u/work/a%20b%40c.ics", want: "/u/work/a%20b@c.ics"},
		{name: "a raw name is escaped once", base: "/", href: "/u/work/a b@c.ics", want: "/u/work/a%20b@c.ics"},
		{name: "a raw percent that is no escape", base: "/", href: "/u/work/50%off.ics", want: "/u/work/50%25off.ics"},
		{name: "escaped slash stays inside its segment", base: "/", href: "/u/work/a%2Fb.ics", want: "/u/work/a%2Fb.ics"},
		{name: "non-ASCII", base: "/", href: "/u/work/%C3%A9t%C3%A9.ics", want: "/u/work/%C3%A9t%C3%A9.ics"},
		{name: "lower-case escapes", base: "/", href: "/u/work/%c3%a9.ics", want: "/u/work/%C3%A9.ics"},
		{name: "full URL on our host", base: "/", href: "https://DAV.example.org:443/u/x.ics", want: "/u/x.ics"},
		{name: "relative to the answered URL", base: "/u/work/", href: "x.ics", want: "/u/work/x.ics"},
		{name: "dot segments resolved", base: "/", href: "/u/work/../home/./x.ics", want: "/u/home/x.ics"},
		{name: "query dropped", base: "/", href: "/u/x.ics?a=b", want: "/u/x.ics"},
		{name: "another host refused", base: "/", href: "https://evil.example.com/u/x.ics", wantErr: true},
		{name: "another port refused", base: "/", href: "https://dav.example.org:8443/u/x.ics", wantErr: true},
		{name: "another scheme refused", base: "/", href: "http://dav.example.org/u/x.ics", wantErr: true},
		{name: "empty refused", base: "/", href: " ", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.resolve(tc.base, tc.href)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("resolve(%q) = %q, want an error", tc.href, got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("resolve(%q) = %q, %v; want %q", tc.href, got, err, tc.want)
			}
			// The canonical form is a fixed point.
			if again, err := c.resolve("/", got); err != nil || again != got {
				t.Fatalf("resolve(%q) again = %q, %v", got, again, err)
			}
		})
	}
}

func TestNewKeepsPasswordsInURLsOutOfErrors(t *testing.T) {
	for _, u := range []string{
		"https://bob:s3cret-pw@dav.example.org/",
		"https://bob:s3cret-pw@dav.example.org/%zz", // unparsable: url.Parse would quote it whole
	} {
		_, err := New(Config{URL: u})
		if err == nil {
			t.Fatalf("New(%q) accepted a URL with a password", u)
		}
		if strings.Contains(err.Error(), "s3cret-pw") {
			t.Fatalf("error carries the password: %v", err)
		}
	}
}
