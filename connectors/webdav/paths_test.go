package webdav

import "testing"

func TestCallerPathsAreEscapedSegmentBySegment(t *testing.T) {
	c, err := New(Options{URL: "https://dav.example.org/remote.php/dav/files/Ann%20B/"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{"", "/remote.php/dav/files/Ann%20B/"},
		{"a b/c#d?e%f/ü", "/remote.php/dav/files/Ann%20B/a%20b/c%23d%3Fe%25f/%C3%BC"},
		{"50%25", "/remote.php/dav/files/Ann%20B/50%2525"}, // a name, not an escape
		{"a+b&c=d@e", "/remote.php/dav/files/Ann%20B/a+b&c=d@e"},
		{" lead and trail ", "/remote.php/dav/files/Ann%20B/%20lead%20and%20trail%20"},
	} {
		if got, err := c.target(tc.path); err != nil || got != tc.want {
			t.Errorf("target(%q) = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	for _, bad := range []string{"/abs", "trailing/", "a//b", ".", "a/./b", "..", "a/../../etc"} {
		if got, err := c.target(bad); err == nil {
			t.Errorf("target(%q) = %q, want a refusal", bad, got)
		}
	}
}

func TestHrefsAreDecodedAndOnlyMappedBelowTheRoot(t *testing.T) {
	c, err := New(Options{URL: "https://Dav.Example.org/dav/My%20Files/"})
	if err != nil {
		t.Fatal(err)
	}
	const dir = "/dav/My%20Files/sub/"
	for _, tc := range []struct {
		name, href, want string
		ok               bool
	}{
		{"the root, escaped another way", "/dav/My Files/", "", true},
		{"a member", "/dav/My%20Files/a%20b.txt", "a b.txt", true},
		{"a folder with its slash", "/dav/My%20Files/sub/", "sub", true},
		{"escapes some servers use", "/dav/My%20Files/x%40y%26z%2Bw", "x@y&z+w", true},
		{"unicode raw and escaped are one name", "/dav/My Files/été/%C3%A9t%C3%A9", "été/été", true},
		{"a raw percent that is no escape", "/dav/My%20Files/50%off", "50%off", true},
		{"a raw # and ? are part of a name", "/dav/My%20Files/a#b?c", "a#b?c", true},
		{"a full URL on the same host", "https://dav.example.org:443/dav/My%20Files/x", "x", true},
		{"relative to the request", "x%20y", "sub/x y", true},
		{"another host", "https://evil.example.org/dav/My%20Files/x", "", false},
		{"another scheme", "http://dav.example.org/dav/My%20Files/x", "", false},
		{"another port", "https://dav.example.org:8443/dav/My%20Files/x", "", false},
		{"a user in the URL", "https://u@dav.example.org/dav/My%20Files/x", "", false},
		{"outside the root", "/dav/Other/x", "", false},
		{"a prefix of the root's last name", "/dav/My%20Files2/x", "", false},
		{"above the root", "/dav/", "", false},
		{"dot-dot out of the root", "/dav/My%20Files/../Other/x", "", false},
		{"escaped dot-dot", "/dav/My%20Files/%2e%2e/Other", "", false},
		{"relative dot-dot", "../../x", "", false},
		{"a network-path reference", "//evil.example.org/dav/My%20Files/x", "", false},
		{"an escaped slash in a name", "/dav/My%20Files/a%2Fb", "", false},
		{"empty", "", "", false},
	} {
		got, ok := c.relPath(dir, tc.href)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: relPath(%q) = %q, %v; want %q, %v", tc.name, tc.href, got, ok, tc.want, tc.ok)
		}
	}
}
