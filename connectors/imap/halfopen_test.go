package imap_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	imapconn "github.com/holdover/holdover/connectors/imap"
	hsync "github.com/holdover/holdover/sync"
)

// halfOpenServer accepts connections, writes greeting (which may be
// empty), answers LOGIN when login is set, and otherwise never answers:
// a provider's overloaded front end, or a half-open connection.
func halfOpenServer(t *testing.T, greeting string, login bool) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
			go func() {
				c.Write([]byte(greeting))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					tag, rest, _ := strings.Cut(line, " ")
					if login && strings.HasPrefix(strings.ToUpper(rest), "LOGIN") {
						c.Write([]byte(tag + " OK [CAPABILITY IMAP4rev1] logged in\r\n"))
					}
				}
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	p, _ := strconv.Atoi(port)
	return host, p
}

func halfOpenConfig(host string, port int, tls string) imapconn.Config {
	return imapconn.Config{Host: host, Port: port, TLS: tls, Username: "me",
		Password:    func(context.Context) (string, error) { return "pw", nil },
		DialTimeout: time.Second, ReadTimeout: time.Minute}
}

// Connecting, TLS, the greeting and the login share the short dial
// deadline: the long read limit of a session never applies to them,
// whichever step the server stops answering at.
func TestDialToAServerThatNeverAnswersFailsWithinTheDialTimeout(t *testing.T) {
	const greeting = "* OK [CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN] ready\r\n"
	for _, tc := range []struct{ name, greeting, tls string }{
		{"no greeting, plain", "", "none"},
		{"no greeting, STARTTLS", "", "starttls"},
		{"no TLS handshake", "", "tls"},
		{"greeting, no answer to LOGIN", greeting, "none"},
		{"greeting, no answer to STARTTLS", greeting, "starttls"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			host, port := halfOpenServer(t, tc.greeting, false)
			start := time.Now()
			s, err := imapconn.Dial(context.Background(), halfOpenConfig(host, port, tc.tls))
			took := time.Since(start)
			if err == nil {
				s.Close()
				t.Fatal("Dial succeeded against a server that never answers")
			}
			if took > 3*time.Second {
				t.Errorf("Dial took %s; the dial timeout is 1s (the read timeout 1m)", took.Round(time.Millisecond))
			}
			if hsync.KindOf(err) != hsync.Transient || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "no answer within 1s") {
				t.Errorf("error %q (kind %v), want a transient \"no answer within 1s\"", err, hsync.KindOf(err))
			}
		})
	}
}

// Once logged in, the session's reads have their own limit, the first
// one included: a server that accepts the login and never answers the
// next command is given up after ReadTimeout (before, that first read
// had no deadline at all and `sync --once` hung for good).
func TestTheFirstCommandAfterLoginIsBoundedByTheReadTimeout(t *testing.T) {
	host, port := halfOpenServer(t, "* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready\r\n", true)
	cfg := halfOpenConfig(host, port, "none")
	cfg.DialTimeout, cfg.ReadTimeout = 5*time.Second, 1500*time.Millisecond
	s, err := imapconn.Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := s.ListFolders(context.Background())
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("LIST still waits after 20s; the read timeout is 1.5s")
	}
	took := time.Since(start)
	if err == nil || hsync.KindOf(err) != hsync.Transient {
		t.Fatalf("LIST: %v (kind %v), want a transient error", err, hsync.KindOf(err))
	}
	if took < time.Second || took > 5*time.Second {
		t.Errorf("LIST gave up after %s; want about the read timeout (1.5s)", took.Round(time.Millisecond))
	}
}
