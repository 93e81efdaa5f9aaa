package imapd_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// rawClient speaks IMAP as text, to send what a library would not.
type rawClient struct {
	conn net.Conn
	r    *bufio.Reader
}

func (e *fuzzEndpoint) client(t *testing.T) *rawClient {
	t.Helper()
	conn := e.dial(t)
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := &rawClient{conn: conn, r: bufio.NewReader(conn)}
	if line := c.line(t); !strings.HasPrefix(line, "* OK") {
		t.Fatalf("greeting: %q", line)
	}
	return c
}

func (c *rawClient) line(t *testing.T) string {
	t.Helper()
	l, err := c.r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v (after %q)", err, l)
	}
	return l
}

// send writes raw bytes without waiting for an answer (a pipe has no
// buffer: the write goes on while the answers are read).
func (c *rawClient) send(text string) {
	go io.WriteString(c.conn, text)
}

// until reads lines up to the tagged answer of tag and returns them all.
func (c *rawClient) until(t *testing.T, tag string) string {
	t.Helper()
	var b strings.Builder
	for {
		l := c.line(t)
		b.WriteString(l)
		if strings.HasPrefix(l, tag+" ") {
			return b.String()
		}
	}
}

// cmd sends one command line and returns everything up to its tagged
// answer.
func (c *rawClient) cmd(t *testing.T, tag, text string) string {
	t.Helper()
	c.send(tag + " " + text + "\r\n")
	return c.until(t, tag)
}

// tagged is the tagged answer line of tag in out.
func tagged(out, tag string) string {
	for _, l := range strings.Split(out, "\r\n") {
		if strings.HasPrefix(l, tag+" ") {
			return l
		}
	}
	return ""
}

func (c *rawClient) login(t *testing.T) {
	t.Helper()
	if out := c.cmd(t, "L", "LOGIN "+localUser+" "+localPass); !strings.HasPrefix(tagged(out, "L"), "L OK") {
		t.Fatalf("login: %s", out)
	}
}

func (c *rawClient) selectInbox(t *testing.T) {
	t.Helper()
	if out := c.cmd(t, "S", "SELECT INBOX"); !strings.HasPrefix(tagged(out, "S"), "S OK") {
		t.Fatalf("select: %s", out)
	}
}

// stillServes checks that c's session goes on after a bad command.
func (c *rawClient) stillServes(t *testing.T) {
	t.Helper()
	if out := c.cmd(t, "N", "NOOP"); !strings.HasPrefix(tagged(out, "N"), "N OK") {
		t.Fatalf("NOOP after the bad input: %s", out)
	}
}

func TestBadInputGetsAProtocolAnswer(t *testing.T) {
	e := newFuzzEndpoint(t)

	t.Run("an unknown command is BAD and the session goes on", func(t *testing.T) {
		c := e.client(t)
		c.login(t)
		if out := c.cmd(t, "b", "FROB INBOX"); !strings.HasPrefix(tagged(out, "b"), "b BAD") {
			t.Fatalf("FROB: %s", out)
		}
		c.stillServes(t)
	})

	t.Run("a malformed literal is BAD", func(t *testing.T) {
		for _, bad := range []string{"SELECT {5x}", "SELECT {-1}", "SELECT {}", "LOGIN {99999999999999999999}"} {
			c := e.client(t)
			out := c.cmd(t, "b", bad)
			if !strings.HasPrefix(tagged(out, "b"), "b BAD") && !strings.HasPrefix(tagged(out, "b"), "b NO") {
				t.Fatalf("%s: %s", bad, out)
			}
		}
	})

	t.Run("a literal too big for a command line is never asked for", func(t *testing.T) {
		c := e.client(t)
		c.login(t)
		c.send("b SELECT {100000}\r\n")
		// go-imap (v2.0.0-beta.8) refuses it without a "+" but loses
		// its NO [TOOBIG] and waits for the end of the line until its
		// 30 s command timeout: the session waits, alone; the data is
		// never asked for and every other client is served.
		c.conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		if l, err := c.r.ReadString('\n'); strings.HasPrefix(l, "+") {
			t.Fatalf("the server asked for a 100 kB literal on a command line: %q %v", l, err)
		}
		e.answers(t)
	})

	t.Run("a 100 MB APPEND is refused before its data", func(t *testing.T) {
		c := e.client(t)
		c.login(t)
		// Synchronizing: the client sends the data only after a "+";
		// the refusal must come instead of it, so nothing is read.
		out := c.cmd(t, "b", "APPEND INBOX (\\Seen) {100000000}")
		if strings.HasPrefix(out, "+") || !strings.HasPrefix(tagged(out, "b"), "b NO [TOOBIG]") {
			t.Fatalf("APPEND of 100 MB: %s", out)
		}
		c.stillServes(t)
	})

	t.Run("a SEARCH the index cannot answer gets an answer", func(t *testing.T) {
		c := e.client(t)
		c.login(t)
		c.selectInbox(t)
		for i, q := range []string{
			`CHARSET KOI8-R TEXT needle`,
			`TEXT "***"`,
			`TEXT "\""`,
			`BODY "NEAR(needle body)"`,
			`TEXT "needle1 OR body" NOT TEXT "-x"`,
			`TEXT "a*b^c:d"`,
			`TEXT {2}` + "\r\n\xff\xfe",
			`OR TEXT "" BODY ""`,
			`MODSEQ 5`,
			`FUZZY TEXT needle`,
		} {
			tag := fmt.Sprintf("s%d", i)
			c.send(tag + " SEARCH " + q + "\r\n")
			out := c.until(t, tag)
			if l := tagged(out, tag); !strings.HasPrefix(l, tag+" OK") && !strings.HasPrefix(l, tag+" NO") && !strings.HasPrefix(l, tag+" BAD") {
				t.Fatalf("SEARCH %s: %s", q, out)
			}
			if strings.Contains(out, "UNAVAILABLE") {
				t.Errorf("SEARCH %s reached the index as a query it could not run: %s", q, out)
			}
		}
		c.stillServes(t)
	})

	t.Run("a FETCH of UIDs or numbers that do not exist answers nothing, OK", func(t *testing.T) {
		c := e.client(t)
		c.login(t)
		c.selectInbox(t)
		for i, q := range []string{"UID FETCH 99999:100000 FLAGS", "UID FETCH 13,4000000000 (FLAGS BODY.PEEK[])", "FETCH 13:99 FLAGS"} {
			tag := fmt.Sprintf("f%d", i)
			out := c.cmd(t, tag, q)
			if strings.Contains(out, " FETCH (") || !strings.HasPrefix(tagged(out, tag), tag+" OK") && !strings.HasPrefix(tagged(out, tag), tag+" BAD") {
				t.Fatalf("%s: %s", q, out)
			}
		}
		// UID 0 does not exist either; go-imap answers the set it cannot
		// parse with NO [SERVERBUG] rather than BAD, a protocol answer
		// all the same.
		if out := c.cmd(t, "z", "UID FETCH 0 FLAGS"); !strings.HasPrefix(tagged(out, "z"), "z BAD") && !strings.HasPrefix(tagged(out, "z"), "z NO") {
			t.Fatalf("UID FETCH 0: %s", out)
		}
		c.stillServes(t)
	})
}

// A session stuck in the middle of a literal, or in a long IDLE, holds
// up nobody else.
func TestAStuckSessionBlocksNoOtherClient(t *testing.T) {
	e := newFuzzEndpoint(t)
	stuck := e.client(t)
	stuck.login(t)
	stuck.selectInbox(t)
	stuck.send("b APPEND INBOX {1000}\r\n")
	if l := stuck.line(t); !strings.HasPrefix(l, "+") {
		t.Fatalf("APPEND of 1000 bytes: %q", l)
	}
	stuck.send("only ten b") // and then nothing

	idle := e.client(t)
	idle.login(t)
	idle.selectInbox(t)
	idle.send("i IDLE\r\n")
	if l := idle.line(t); !strings.HasPrefix(l, "+") {
		t.Fatalf("IDLE: %q", l)
	}

	start := time.Now()
	e.answers(t)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("another client waited %v", d)
	}
}
