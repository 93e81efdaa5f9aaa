package locallogin

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

func TestStaticPicksTheAccountAndRefusesEverythingElseAlike(t *testing.T) {
	broken := errors.New("secret file unreadable")
	auth := Static(map[string]Login{
		"me":     {Account: "work", Password: func(context.Context) (string, error) { return "s3cret", nil }},
		"broken": {Account: "home", Password: func(context.Context) (string, error) { return "", broken }},
		"nopass": {Account: "home"},
	})
	for _, tc := range []struct {
		name, user, pass, account string
		err                       error
	}{
		{"the right login opens its account", "me", "s3cret", "work", nil},
		{"a wrong password", "me", "s3cret ", "", ErrBadCredentials},
		{"an empty password", "me", "", "", ErrBadCredentials},
		{"an unknown username", "you", "s3cret", "", ErrBadCredentials},
		{"a login without a password source", "nopass", "", "", ErrBadCredentials},
		{"an unreadable secret is a local fault, not bad credentials", "broken", "x", "", broken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			account, err := auth(t.Context(), tc.user, tc.pass)
			if account != tc.account || !errors.Is(err, tc.err) || (tc.err == nil) != (err == nil) {
				t.Fatalf("= %q, %v; want %q, %v", account, err, tc.account, tc.err)
			}
			if err != nil && (strings.Contains(err.Error(), tc.pass) && tc.pass != "") {
				t.Fatalf("the error %q shows the password", err)
			}
		})
	}
}

func TestLoopbackIsLoopbackTCPOrAUnixSocketOnly(t *testing.T) {
	for _, tc := range []struct {
		addr net.Addr
		want bool
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1143}, true},
		{&net.TCPAddr{IP: net.IPv6loopback, Port: 1143}, true},
		{&net.TCPAddr{IP: net.IPv4(192, 168, 1, 2), Port: 1143}, false},
		{&net.TCPAddr{IP: net.IPv4zero, Port: 1143}, false}, // every interface
		{&net.UnixAddr{Name: "/run/holdover.sock", Net: "unix"}, true},
		{&net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}, false},
	} {
		if got := Loopback(tc.addr); got != tc.want {
			t.Errorf("Loopback(%v) = %v, want %v", tc.addr, got, tc.want)
		}
	}
}
