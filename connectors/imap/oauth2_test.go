package imap_test

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// fakeTokens is a TokenSource that hands out a fixed access token and,
// on Refresh, a fixed fresh one, counting calls.
type fakeTokens struct {
	mu              sync.Mutex
	access, fresh   string
	err             error // returned by both methods when set
	accessN, freshN int
}

func (f *fakeTokens) AccessToken(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accessN++
	return f.access, f.err
}

func (f *fakeTokens) Refresh(context.Context) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.freshN++
	return f.fresh, f.err
}

func (f *fakeTokens) calls() (access, refresh int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accessN, f.freshN
}

func oauthConfig(d *testenv.Dovecot, ts imapconn.TokenSource) imapconn.Config {
	return imapconn.Config{Host: d.Host, Port: d.Port, TLS: "none", Username: d.User, OAuth2: ts, DialTimeout: 10 * time.Second}
}

// waitLoginMethods waits (3 s at most) until Dovecot's login lines name
// the SASL methods want: Dovecot writes its log a moment after a login.
func waitLoginMethods(t *testing.T, d *testenv.Dovecot, want string) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		got := loginMethods(t, d)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Dovecot logged logins by %q, want %q", got, want)
		}
	}
}

// loginMethods reports the SASL method of Dovecot's login lines.
func loginMethods(t *testing.T, d *testenv.Dovecot) string {
	t.Helper()
	b, err := os.ReadFile(d.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	var methods []string
	for _, l := range strings.Split(string(b), "\n") {
		if _, rest, ok := strings.Cut(l, "Login: "); ok {
			if _, m, ok := strings.Cut(rest, "method="); ok {
				methods = append(methods, strings.SplitN(m, ",", 2)[0])
			}
		}
	}
	return strings.Join(methods, " ")
}

func TestOAuth2LoginUsesTheMechanismTheServerAdvertises(t *testing.T) {
	o := testenv.StartOIDC(t)
	for _, tc := range []struct {
		name    string
		offered []string // Dovecot's oauth mechanisms
		want    string   // the method Dovecot logs
	}{
		{"OAUTHBEARER preferred when both are offered", nil, "OAUTHBEARER"},
		{"XOAUTH2 when only it is offered", []string{"xoauth2"}, "XOAUTH2"},
		{"OAUTHBEARER when only it is offered", []string{"oauthbearer"}, "OAUTHBEARER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := testenv.StartDovecot(t, testenv.WithOAuth2(o, tc.offered...))
			ts := &fakeTokens{access: o.Mint(t, d.User).AccessToken}
			s, err := imapconn.Dial(context.Background(), oauthConfig(d, ts))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer s.Close()
			if _, err := s.ListFolders(context.Background()); err != nil {
				t.Fatalf("ListFolders after OAuth2 login: %v", err)
			}
			if a, r := ts.calls(); a != 1 || r != 0 {
				t.Fatalf("AccessToken called %d times, Refresh %d; want 1 and 0", a, r)
			}
			waitLoginMethods(t, d, tc.want)
		})
	}
}

func TestOAuth2ExpiredTokenIsRefreshedOnceAndLogsIn(t *testing.T) {
	o := testenv.StartOIDC(t)
	for _, mech := range []string{"xoauth2", "oauthbearer"} {
		t.Run(mech, func(t *testing.T) {
			d := testenv.StartDovecot(t, testenv.WithOAuth2(o, mech))
			ts := &fakeTokens{access: o.MintExpired(t, d.User).AccessToken, fresh: o.Mint(t, d.User).AccessToken}
			s, err := imapconn.Dial(context.Background(), oauthConfig(d, ts))
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer s.Close()
			if a, r := ts.calls(); a != 1 || r != 1 {
				t.Fatalf("AccessToken called %d times, Refresh %d; want 1 and 1", a, r)
			}
			if _, err := s.ListFolders(context.Background()); err != nil {
				t.Fatalf("ListFolders: %v", err)
			}
		})
	}
}

func TestOAuth2TokenTheProviderNeverIssuedIsAnAuthErrorWithoutTheToken(t *testing.T) {
	o := testenv.StartOIDC(t)
	d := testenv.StartDovecot(t, testenv.WithOAuth2(o))
	forged := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJob2xkb3ZlciJ9.Zm9yZ2Vk"
	ts := &fakeTokens{access: forged, fresh: forged + "2"}
	_, err := imapconn.Dial(context.Background(), oauthConfig(d, ts))
	if hsync.KindOf(err) != hsync.Auth {
		t.Fatalf("Dial = %v (kind %v), want an Auth error", err, hsync.KindOf(err))
	}
	if !strings.Contains(err.Error(), "refused the OAuth2 token for "+d.User) {
		t.Fatalf("error %q does not say the token was refused for %s", err, d.User)
	}
	if strings.Contains(err.Error(), forged) {
		t.Fatalf("the token leaked into the error: %v", err)
	}
	if a, r := ts.calls(); a != 1 || r != 1 {
		t.Fatalf("AccessToken called %d times, Refresh %d; want one refresh, no more", a, r)
	}
}

func TestOAuth2TokenSourceErrorsPassUnchanged(t *testing.T) {
	o := testenv.StartOIDC(t)
	d := testenv.StartDovecot(t, testenv.WithOAuth2(o))
	idpDown := hsync.Errorf(hsync.Transient, "oauth2 refresh", errors.New("identity provider unreachable: connection refused"))
	ts := &fakeTokens{err: idpDown}
	_, err := imapconn.Dial(context.Background(), oauthConfig(d, ts))
	if !errors.Is(err, idpDown) || err.Error() != idpDown.Error() {
		t.Fatalf("Dial = %v, want the token source's error unchanged", err)
	}
}

func TestOAuth2AgainstAServerWithoutOAuthMechanismsIsAnAuthError(t *testing.T) {
	d := testenv.StartDovecot(t)
	ts := &fakeTokens{access: "whatever"}
	_, err := imapconn.Dial(context.Background(), oauthConfig(d, ts))
	if hsync.KindOf(err) != hsync.Auth || !strings.Contains(err.Error(), "neither OAUTHBEARER nor XOAUTH2") {
		t.Fatalf("Dial = %v (kind %v), want an Auth error naming the missing mechanisms", err, hsync.KindOf(err))
	}
	if a, _ := ts.calls(); a != 0 {
		t.Fatalf("AccessToken called %d times before the server said it cannot take a token", a)
	}
}

// hangUpServer is a scripted IMAP server offering AUTH=XOAUTH2 that
// refuses every token but good (error challenge, NO) and then hangs up,
// as some providers do; it counts connections.
func hangUpServer(t *testing.T, good string) (port int, conns func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var mu sync.Mutex
	n := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			n++
			mu.Unlock()
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				fmt.Fprintf(c, "* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] ready\r\n")
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					if len(f) < 2 {
						return
					}
					tag, cmd := f[0], strings.ToUpper(f[1])
					switch {
					case cmd == "AUTHENTICATE" && len(f) == 4:
						ir, _ := base64.StdEncoding.DecodeString(f[3])
						if strings.Contains(string(ir), "auth=Bearer "+good+"\x01") {
							fmt.Fprintf(c, "%s OK [CAPABILITY IMAP4rev1] signed in\r\n", tag)
							continue
						}
						fmt.Fprintf(c, "+ eyJzdGF0dXMiOiI0MDEifQ==\r\n")
						br.ReadString('\n')
						fmt.Fprintf(c, "%s NO [AUTHENTICATIONFAILED] invalid token\r\n", tag)
						return // hang up
					case cmd == "CAPABILITY":
						fmt.Fprintf(c, "* CAPABILITY IMAP4rev1\r\n%s OK done\r\n", tag)
					case cmd == "LOGOUT":
						fmt.Fprintf(c, "* BYE\r\n%s OK done\r\n", tag)
						return
					default:
						fmt.Fprintf(c, "%s BAD not scripted\r\n", tag)
					}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, func() int { mu.Lock(); defer mu.Unlock(); return n }
}

func TestOAuth2RefusalAndHangUpTriesTheFreshTokenOnANewConnection(t *testing.T) {
	port, conns := hangUpServer(t, "fresh-token")
	ts := &fakeTokens{access: "stale-token", fresh: "fresh-token"}
	cfg := imapconn.Config{Host: "127.0.0.1", Port: port, TLS: "none", Username: "u", OAuth2: ts, DialTimeout: 5 * time.Second}
	s, err := imapconn.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	s.Close()
	if a, r := ts.calls(); a != 1 || r != 1 || conns() != 2 {
		t.Fatalf("AccessToken %d, Refresh %d, connections %d; want 1, 1, 2", a, r, conns())
	}

	// Refused again on the new connection: an Auth error, no third try.
	ts = &fakeTokens{access: "stale-token", fresh: "also-stale"}
	cfg.OAuth2 = ts
	_, err = imapconn.Dial(context.Background(), cfg)
	if hsync.KindOf(err) != hsync.Auth || strings.Contains(err.Error(), "stale") {
		t.Fatalf("Dial = %v (kind %v), want an Auth error without the token", err, hsync.KindOf(err))
	}
	if a, r := ts.calls(); a != 1 || r != 1 || conns() != 4 {
		t.Fatalf("AccessToken %d, Refresh %d, connections %d; want 1, 1, 4", a, r, conns())
	}
}
