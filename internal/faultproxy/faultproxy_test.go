package faultproxy

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// echoServer answers each line with the same line.
func echoServer(t *testing.T) string {
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
			go func() { io.Copy(c, c); c.Close() }()
		}
	}()
	return ln.Addr().String()
}

func roundTrip(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func TestProxyForwardsCutsAndGoesDown(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if got, err := roundTrip(p.Addr(), "hello"); err != nil || got != "hello\n" {
		t.Fatalf("forward: %q %v", got, err)
	}
	p.CutAfter(3)
	if got, err := roundTrip(p.Addr(), "hello"); err == nil || got != "" && !strings.HasPrefix("hello", got) {
		t.Fatalf("cut: %q %v; want a short read and an error", got, err)
	}
	p.CutAfter(0)
	p.Down()
	if _, err := roundTrip(p.Addr(), "x"); err == nil {
		t.Fatal("down proxy answered")
	}
	p.Up()
	if got, err := roundTrip(p.Addr(), "back"); err != nil || got != "back\n" {
		t.Fatalf("after Up: %q %v", got, err)
	}
	p.Hang()
	if _, err := roundTrip(p.Addr(), "x"); err == nil {
		t.Fatal("hung proxy answered")
	}
	if _, cut := p.Stats(); cut != 1 {
		t.Fatalf("cut events = %d", cut)
	}
}
