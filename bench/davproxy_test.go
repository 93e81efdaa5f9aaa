//go:build linux

package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// delayProxy forwards 127.0.0.1:<port> to target and delays every chunk
// by oneWay in each direction, like a link with a round trip of
// 2×oneWay: a chunk read at t is written at t+oneWay, whatever else is in
// flight, so only latency is added, not a bandwidth limit (TCP's slow
// start on a real link is not modelled). A new connection's first chunk
// waits one more round trip, for the TCP handshake a real link costs.
//
// internal/faultproxy is not used: its latency sleeps before each write
// in the copying loop, so delays add up over the chunks of a large answer
// (a 5 MB multiget would take seconds longer), and it delays one
// direction only.
//
// It also parses the HTTP requests going through it (see davStats), to
// tell where a tool's time goes.
type delayProxy struct {
	ln     net.Listener
	target string
	oneWay time.Duration
	proto  string // "imap" counts IMAP commands; HTTP requests otherwise

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	stats davStats
}

// davStats counts what a tool asked of the server.
type davStats struct {
	Conns    int
	Requests map[string]int // by kind: "PROPFIND depth 1", "REPORT sync-collection", "PUT"…
	// Time is, by kind, from accepting the connection to the last byte
	// of the answer sent to the client, split evenly between the
	// requests of a connection (Radicale answers one per connection, so
	// it is each request's time, TCP handshake included, as the client
	// sees it).
	Time      map[string]time.Duration
	Multiget  []int // hrefs asked for by each calendar-multiget
	BytesUp   int64 // client to server
	BytesDown int64 // server to client
}

func (s davStats) total() int {
	n := 0
	for _, c := range s.Requests {
		n += c
	}
	return n
}

// String is a one-line summary: "2 requests on 2 connections, their
// times summed 0.64s: 1 PROPFIND depth 0 (104 ms each), …; 0.00 MB up,
// 0.26 MB down".
func (s davStats) String() string {
	var kinds []string
	for k, n := range s.Requests {
		hrefs := ""
		if strings.HasSuffix(k, "calendar-multiget") {
			hrefs = "; hrefs: " + runLengths(s.Multiget)
		}
		if s.Time[k] == 0 { // IMAP: commands are counted, not timed
			kinds = append(kinds, fmt.Sprintf("%d %s", n, k))
			continue
		}
		kinds = append(kinds, fmt.Sprintf("%d %s (%.0f ms each%s)", n, k, float64(s.Time[k])/float64(n)/float64(time.Millisecond), hrefs))
	}
	slices.Sort(kinds)
	var sum time.Duration
	for _, d := range s.Time {
		sum += d
	}
	return fmt.Sprintf("%d requests on %d connections, their times summed %.2fs: %s; %.2f MB up, %.2f MB down",
		s.total(), s.Conns, sum.Seconds(), strings.Join(kinds, ", "), mb(s.BytesUp), mb(s.BytesDown))
}

// runLengths writes 100,100,100,37 as "3×100 37".
func runLengths(v []int) string {
	var out []string
	for i := 0; i < len(v); {
		j := i
		for j < len(v) && v[j] == v[i] {
			j++
		}
		if j-i > 1 {
			out = append(out, fmt.Sprintf("%d×%d", j-i, v[i]))
		} else {
			out = append(out, strconv.Itoa(v[i]))
		}
		i = j
	}
	return strings.Join(out, " ")
}

func newDelayProxy(target string, oneWay time.Duration) (*delayProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &delayProxy{ln: ln, target: target, oneWay: oneWay, conns: map[net.Conn]struct{}{}}
	p.Reset()
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *delayProxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Reset starts a new count and returns the old one, once the
// connections of the last tool have ended (at most a second later).
func (p *delayProxy) Reset() davStats {
	for deadline := time.Now().Add(time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		p.mu.Lock()
		n := len(p.conns)
		p.mu.Unlock()
		if n == 0 {
			break
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	p.stats = davStats{Requests: map[string]int{}, Time: map[string]time.Duration{}}
	return s
}

func (p *delayProxy) Close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *delayProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *delayProxy) track(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
}

func (p *delayProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		c.Close()
		delete(p.conns, c)
	}
}

func (p *delayProxy) serve(client net.Conn) {
	defer p.wg.Done()
	start := time.Now()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.track(client, server)
	defer p.untrack(client, server)
	p.mu.Lock()
	p.stats.Conns++
	p.mu.Unlock()

	// The requests are parsed from a copy of the client's bytes.
	pr, pw := io.Pipe()
	var kinds []string
	parsed := make(chan struct{})
	go func() {
		if p.proto == "imap" {
			p.countIMAP(pr)
		} else {
			kinds = p.parseRequests(pr)
		}
		close(parsed)
	}()
	done := make(chan time.Time, 2)
	go func() { p.pipe(server, client, 2*p.oneWay, pw, &p.stats.BytesUp); pw.Close(); done <- time.Now() }()
	go func() { p.pipe(client, server, 0, nil, &p.stats.BytesDown); done <- time.Now() }()
	end := <-done
	client.Close()
	server.Close()
	<-done
	<-parsed
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, k := range kinds {
		p.stats.Time[k] += end.Sub(start) / time.Duration(len(kinds))
	}
}

type chunk struct {
	b   []byte
	due time.Time
}

// pipe copies src to dst, each chunk oneWay after it was read (the first
// one extra later), and a copy of it to tee.
func (p *delayProxy) pipe(dst, src net.Conn, extra time.Duration, tee io.Writer, bytes *int64) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(p.oneWay + extra)}
				extra = 0
				p.mu.Lock()
				*bytes += int64(n)
				p.mu.Unlock()
				if tee != nil {
					tee.Write(buf[:n])
				}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			src.Close()
			for range q {
			}
			return
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}

var hrefRe = regexp.MustCompile(`(?i)<([a-z0-9]+:)?href>`)

// parseRequests counts the HTTP requests read from r by kind and
// returns their kinds.
func (p *delayProxy) parseRequests(r io.Reader) (kinds []string) {
	defer io.Copy(io.Discard, r) // never block the copy
	br := bufio.NewReader(r)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return kinds
		}
		// Only a REPORT's body says what kind it is; the others (uploads
		// among them) are skipped, not held in memory.
		var body []byte
		if req.Method == "REPORT" {
			body, _ = io.ReadAll(req.Body)
		} else {
			io.Copy(io.Discard, req.Body)
		}
		kind := req.Method
		switch req.Method {
		case "PROPFIND":
			kind += " depth " + req.Header.Get("Depth")
		case "REPORT":
			switch {
			case bytes.Contains(body, []byte("sync-collection")):
				kind += " sync-collection"
			case bytes.Contains(body, []byte("calendar-multiget")):
				kind += " calendar-multiget"
			case bytes.Contains(body, []byte("calendar-query")):
				kind += " calendar-query"
			}
		case "PUT":
			if req.Header.Get("If-Match") != "" {
				kind += " If-Match"
			} else if req.Header.Get("If-None-Match") != "" {
				kind += " If-None-Match"
			}
		}
		kinds = append(kinds, kind)
		p.mu.Lock()
		p.stats.Requests[kind]++
		if strings.HasSuffix(kind, "calendar-multiget") {
			p.stats.Multiget = append(p.stats.Multiget, len(hrefRe.FindAllIndex(body, -1)))
		}
		p.mu.Unlock()
	}
}

// radicaleLog reads what Radicale logged since the last call: each
// request's method and how long Radicale took to answer it.
type radicaleLog struct {
	path string
	off  int64
}

// serverTime is what a tool cost the server: requests and the time
// the server spent answering them (its own measure, from reading the
// request to the end of the answer's production).
type serverTime struct {
	Server   string // "Radicale", "Apache"
	Requests int
	Busy     time.Duration
	ByMethod map[string]time.Duration
	Count    map[string]int // requests by kind, when the log tells (Apache's)
}

func (s serverTime) String() string {
	var m []string
	for k, d := range s.ByMethod {
		if n := s.Count[k]; n > 0 {
			m = append(m, fmt.Sprintf("%d %s %.2fs", n, k, d.Seconds()))
		} else {
			m = append(m, fmt.Sprintf("%s %.2fs", k, d.Seconds()))
		}
	}
	slices.Sort(m)
	return fmt.Sprintf("%d requests, %s busy %.2fs (%s)", s.Requests, s.Server, s.Busy.Seconds(), strings.Join(m, ", "))
}

// "PROPFIND response status for '/holdover/' with depth '1' in 0.012 seconds: 207 Multi-Status"
var radicaleResp = regexp.MustCompile(`\] (\w+) response status for '[^']*'.* in ([0-9.]+) seconds: `)

// skip forgets what was logged so far.
func (l *radicaleLog) skip() {
	if fi, err := os.Stat(l.path); err == nil {
		l.off = fi.Size()
	}
}

func (l *radicaleLog) since() serverTime {
	st := serverTime{Server: "Radicale", ByMethod: map[string]time.Duration{}}
	f, err := os.Open(l.path)
	if err != nil {
		return st
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return st
	}
	data, _ := io.ReadAll(f)
	l.off += int64(len(data))
	for _, m := range radicaleResp.FindAllSubmatch(data, -1) {
		sec, _ := strconv.ParseFloat(string(m[2]), 64)
		d := time.Duration(sec * float64(time.Second))
		st.Requests++
		st.Busy += d
		st.ByMethod[string(m[1])] += d
	}
	return st
}

// apacheLog reads what Apache (internal/testenv's access log format)
// logged since the last call: each request's kind (the method, with the
// Depth of a PROPFIND and the condition of a PUT, as davStats names
// them) and the time Apache took (%D).
type apacheLog struct {
	path string
	off  int64
}

// 127.0.0.1 holdover "PROPFIND /dav/x/ HTTP/1.1" 207 1234 "-" 5321 "1" "-"
// (Apache writes a quote inside a field as \", as in an If-Match value.)
var apacheLine = regexp.MustCompile(`(?m)^\S+ \S+ "(\w+) (?:[^"\\]|\\.)*" (\d+) \S+ "((?:[^"\\]|\\.)*)" (\d+) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)"$`)

func (l *apacheLog) skip() {
	if fi, err := os.Stat(l.path); err == nil {
		l.off = fi.Size()
	}
}

func (l *apacheLog) since() serverTime {
	st := serverTime{Server: "Apache", ByMethod: map[string]time.Duration{}, Count: map[string]int{}}
	f, err := os.Open(l.path)
	if err != nil {
		return st
	}
	defer f.Close()
	if _, err := f.Seek(l.off, io.SeekStart); err != nil {
		return st
	}
	data, _ := io.ReadAll(f)
	if i := bytes.LastIndexByte(data, '\n'); i >= 0 {
		data = data[:i+1] // a line being written waits for the next call
	} else {
		data = nil
	}
	l.off += int64(len(data))
	lines := apacheLine.FindAllSubmatch(data, -1)
	if n := bytes.Count(data, []byte("\n")) - len(lines); n > 0 {
		st.Count["lines not understood"] = n
		st.ByMethod["lines not understood"] = 0
	}
	for _, m := range lines {
		kind := string(m[1])
		switch {
		case kind == "PROPFIND":
			kind += " depth " + string(m[5])
		case kind == "PUT" && string(m[3]) != "-":
			kind += " If-Match"
		case kind == "PUT" && string(m[6]) != "-":
			kind += " If-None-Match"
		}
		if code := string(m[2]); code[0] != '2' {
			kind += " " + code
		}
		us, _ := strconv.ParseInt(string(m[4]), 10, 64)
		d := time.Duration(us) * time.Microsecond
		st.Requests++
		st.Busy += d
		st.ByMethod[kind] += d
		st.Count[kind]++
	}
	return st
}

// countIMAP counts the IMAP commands read from r by name ("UID FETCH",
// "SELECT"…), skipping literals, so a run's line shows its round trips.
// Commands are counted, not timed: one connection carries many.
func (p *delayProxy) countIMAP(r io.Reader) {
	defer io.Copy(io.Discard, r) // never block the copy
	br := bufio.NewReader(r)
	expectCmd := true // the next line starts a command (not a continuation)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		if expectCmd {
			f := strings.Fields(line)
			if len(f) >= 2 {
				kind := strings.ToUpper(f[1])
				if kind == "UID" && len(f) >= 3 {
					kind += " " + strings.ToUpper(f[2])
				}
				p.mu.Lock()
				p.stats.Requests[kind]++
				p.mu.Unlock()
			}
		}
		// A literal {n} or {n+} at the end of the line: n bytes follow,
		// then the command goes on.
		expectCmd = true
		t := strings.TrimRight(line, "\r\n")
		if strings.HasSuffix(t, "}") {
			if i := strings.LastIndexByte(t, '{'); i >= 0 {
				if n, err := strconv.Atoi(strings.TrimSuffix(t[i+1:len(t)-1], "+")); err == nil {
					if _, err := io.CopyN(io.Discard, br, int64(n)); err != nil {
						return
					}
					expectCmd = false
				}
			}
		}
	}
}
