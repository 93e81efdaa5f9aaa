package smtp

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/holdover/holdover/internal/testenv"
	hsync "github.com/holdover/holdover/sync"
)

// fakeTokens is a TokenSource that hands out a fixed access token and,
// on Refresh, a fixed fresh one, counting calls.
type fakeTokens struct {
	mu              sync.Mutex
	access, fresh   string
	err             error
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

func oauthSinkConfig(s *testenv.SMTPSink, ts TokenSource) Config {
	return Config{Host: s.Host, Port: s.Port, TLS: "none", Username: s.User, OAuth2: ts, Timeout: 5 * time.Second}
}

func TestOAuth2SendsThroughASinkThatAcceptsOnlyTokens(t *testing.T) {
	o := testenv.StartOIDC(t)
	for _, tc := range []struct {
		name    string
		offered []string
		want    string
	}{
		{"OAUTHBEARER preferred when both are offered", nil, "OAUTHBEARER"},
		{"XOAUTH2 when only it is offered", []string{"XOAUTH2"}, "XOAUTH2"},
		{"OAUTHBEARER when only it is offered", []string{"OAUTHBEARER"}, "OAUTHBEARER"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sk := testenv.StartSMTPSink(t)
			sk.AcceptOAuth2Only(o, tc.offered...)
			ts := &fakeTokens{access: o.Mint(t, sk.User).AccessToken}
			c := dial(t, oauthSinkConfig(sk, ts))
			if err := send(c, env, testMsg); err != nil {
				t.Fatalf("send: %v", err)
			}
			if msgs := sk.Messages(); len(msgs) != 1 || msgs[0].Mechanism != tc.want {
				t.Fatalf("sink got %+v, want one message sent after AUTH %s", msgs, tc.want)
			}
			if a, r := ts.calls(); a != 1 || r != 0 {
				t.Fatalf("AccessToken %d, Refresh %d; want 1 and 0", a, r)
			}
		})
	}
}

func TestOAuth2ExpiredTokenIsRefreshedOnceThenSends(t *testing.T) {
	o := testenv.StartOIDC(t)
	for _, mech := range []string{"XOAUTH2", "OAUTHBEARER"} {
		t.Run(mech, func(t *testing.T) {
			sk := testenv.StartSMTPSink(t)
			sk.AcceptOAuth2Only(o, mech)
			ts := &fakeTokens{access: o.MintExpired(t, sk.User).AccessToken, fresh: o.Mint(t, sk.User).AccessToken}
			c := dial(t, oauthSinkConfig(sk, ts))
			if err := send(c, env, testMsg); err != nil {
				t.Fatalf("send: %v", err)
			}
			if a, r := ts.calls(); a != 1 || r != 1 {
				t.Fatalf("AccessToken %d, Refresh %d; want 1 and 1", a, r)
			}
		})
	}
}

func TestOAuth2TokenNeverIssuedIsAnAuthErrorWithoutTheToken(t *testing.T) {
	o := testenv.StartOIDC(t)
	sk := testenv.StartSMTPSink(t)
	sk.AcceptOAuth2Only(o)
	other := testenv.StartOIDC(t).Mint(t, sk.User).AccessToken
	ts := &fakeTokens{access: other, fresh: other}
	_, err := Dial(context.Background(), oauthSinkConfig(sk, ts))
	if hsync.KindOf(err) != hsync.Auth || !strings.Contains(err.Error(), "refused the OAuth2 token for "+sk.User) {
		t.Fatalf("Dial = %v (kind %v), want Auth: refused the OAuth2 token for %s", err, hsync.KindOf(err), sk.User)
	}
	if strings.Contains(err.Error(), other) {
		t.Fatalf("the token leaked into the error: %v", err)
	}
	if a, r := ts.calls(); a != 1 || r != 1 {
		t.Fatalf("AccessToken %d, Refresh %d; want one refresh, no more", a, r)
	}
	if len(sk.Messages()) != 0 {
		t.Fatal("a message got through")
	}
}

func TestOAuth2TokenSourceErrorPassesUnchanged(t *testing.T) {
	o := testenv.StartOIDC(t)
	sk := testenv.StartSMTPSink(t)
	sk.AcceptOAuth2Only(o)
	idpDown := hsync.Errorf(hsync.Transient, "oauth2 refresh", errors.New("identity provider unreachable: connection refused"))
	_, err := Dial(context.Background(), oauthSinkConfig(sk, &fakeTokens{err: idpDown}))
	if !errors.Is(err, idpDown) || err.Error() != idpDown.Error() {
		t.Fatalf("Dial = %v, want the token source's error unchanged", err)
	}
}

func TestOAuth2AgainstAPasswordOnlyServerIsAnAuthError(t *testing.T) {
	sk := testenv.StartSMTPSink(t)
	ts := &fakeTokens{access: "x"}
	_, err := Dial(context.Background(), oauthSinkConfig(sk, ts))
	if hsync.KindOf(err) != hsync.Auth || !strings.Contains(err.Error(), "OAUTHBEARER or XOAUTH2") {
		t.Fatalf("Dial = %v (kind %v), want an Auth error naming the mechanisms", err, hsync.KindOf(err))
	}
	if a, _ := ts.calls(); a != 0 {
		t.Fatalf("AccessToken called %d times", a)
	}
}

// TestOAuth2RefusalAndHangUpTriesTheFreshTokenOnANewConnection: a scripted
// server that refuses a token (334 error challenge, then 535) and hangs
// up; the fresh token goes over a new connection.
func TestOAuth2RefusalAndHangUpTriesTheFreshTokenOnANewConnection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var mu sync.Mutex
	conns := 0
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				br := bufio.NewReader(c)
				fmt.Fprintf(c, "220 scripted ESMTP\r\n")
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					f := strings.Fields(line)
					switch {
					case len(f) > 0 && strings.EqualFold(f[0], "EHLO"):
						fmt.Fprintf(c, "250-scripted\r\n250 AUTH XOAUTH2\r\n")
					case len(f) == 3 && strings.EqualFold(f[0], "AUTH"):
						ir, _ := base64.StdEncoding.DecodeString(f[2])
						if strings.Contains(string(ir), "auth=Bearer fresh\x01") {
							fmt.Fprintf(c, "235 2.7.0 accepted\r\n")
							continue
						}
						fmt.Fprintf(c, "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n")
						br.ReadString('\n')
						fmt.Fprintf(c, "535 5.7.8 invalid token\r\n")
						return // hang up
					case len(f) > 0 && strings.EqualFold(f[0], "QUIT"):
						fmt.Fprintf(c, "221 bye\r\n")
						return
					default:
						fmt.Fprintf(c, "502 not scripted\r\n")
					}
				}
			}()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	ts := &fakeTokens{access: "stale", fresh: "fresh"}
	c, err := Dial(context.Background(), Config{Host: "127.0.0.1", Port: port, TLS: "none", Username: "u", OAuth2: ts, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	c.Close()
	mu.Lock()
	defer mu.Unlock()
	if a, r := ts.calls(); a != 1 || r != 1 || conns != 2 {
		t.Fatalf("AccessToken %d, Refresh %d, connections %d; want 1, 1, 2", a, r, conns)
	}
}

// expiringTokens knows when its token expires, as *oauth.Source does.
type expiringTokens struct {
	fakeTokens
	expiry time.Time
}

func (e *expiringTokens) Expiry(token string) (time.Time, bool) { return e.expiry, token == e.access }

// A session signed in with a token that expires soon says so before the
// token runs out (so the outbox dials a new one); with an hour-long token,
// or a password, it does not.
func TestOAuth2SessionSaysItsSignInEndsBeforeTheTokenExpires(t *testing.T) {
	o := testenv.StartOIDC(t)
	sk := testenv.StartSMTPSink(t)
	sk.AcceptOAuth2Only(o)
	tok := o.Mint(t, sk.User).AccessToken

	short := &expiringTokens{fakeTokens: fakeTokens{access: tok}, expiry: time.Now().Add(3 * time.Second)}
	c := dial(t, oauthSinkConfig(sk, short))
	if hsync.SignInEnding(c) {
		t.Fatal("a fresh session's sign-in is ending already")
	}
	deadline := time.Now().Add(3 * time.Second)
	for !hsync.SignInEnding(c) {
		if time.Now().After(deadline) {
			t.Fatal("the session still does not say its sign-in ends when its token has expired")
		}
		time.Sleep(50 * time.Millisecond)
	}

	long := &expiringTokens{fakeTokens: fakeTokens{access: tok}, expiry: time.Now().Add(time.Hour)}
	if c := dial(t, oauthSinkConfig(sk, long)); hsync.SignInEnding(c) {
		t.Fatal("a session with an hour-long token says its sign-in ends")
	}
}
