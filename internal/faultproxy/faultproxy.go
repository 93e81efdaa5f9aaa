// Package faultproxy is a TCP proxy for tests that injects the faults a
// real server will not produce on demand: a connection cut after so many
// bytes, refused connections (an outage), added latency, and a half-open
// connection that stops answering.
//
// Invariants: it listens on 127.0.0.1 only; Close stops the listener and
// every connection and returns once all its goroutines have ended.
package faultproxy

import (
	"net"
	"sync"
	"time"
)

// Proxy forwards 127.0.0.1:<port> to a target address.
type Proxy struct {
	target string
	ln     net.Listener

	mu        sync.Mutex
	down      bool          // refuse (accept and close at once) new connections
	cutAfter  int64         // cut each connection after this many server→client bytes (0: never)
	latency   time.Duration // added before each server→client write
	hang      bool          // stop forwarding but keep connections open
	conns     map[net.Conn]struct{}
	wg        sync.WaitGroup
	closed    bool
	accepted  int
	cutEvents int
}

// New starts a proxy to target.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: target, ln: ln, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients dial.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Down cuts every open connection and refuses new ones until Up.
func (p *Proxy) Down() {
	p.mu.Lock()
	p.down = true
	p.mu.Unlock()
	p.CutAll()
}

// Up accepts connections again.
func (p *Proxy) Up() {
	p.mu.Lock()
	p.down, p.hang = false, false
	p.mu.Unlock()
}

// CutAfter makes every new connection drop after n bytes from the server
// (0 turns it off).
func (p *Proxy) CutAfter(n int64) {
	p.mu.Lock()
	p.cutAfter = n
	p.mu.Unlock()
}

// Latency delays each chunk from the server by d.
func (p *Proxy) Latency(d time.Duration) {
	p.mu.Lock()
	p.latency = d
	p.mu.Unlock()
}

// Hang stops forwarding in both directions while keeping connections
// open: a half-open peer, seen by the client only through timeouts.
func (p *Proxy) Hang() {
	p.mu.Lock()
	p.hang = true
	p.mu.Unlock()
}

// Stats reports how many connections were accepted and cut by CutAfter.
func (p *Proxy) Stats() (accepted, cut int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted, p.cutEvents
}

// CutAll closes every open connection.
func (p *Proxy) CutAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
}

// Close stops the proxy and waits for its goroutines.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.CutAll()
	p.wg.Wait()
	return err
}

func (p *Proxy) track(c net.Conn, add bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if add {
		if p.closed {
			return false
		}
		p.conns[c] = struct{}{}
	} else {
		delete(p.conns, c)
	}
	return true
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.accepted++
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

func (p *Proxy) serve(client net.Conn) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		client.Close()
		return
	}
	if !p.track(client, true) || !p.track(server, true) {
		client.Close()
		server.Close()
		return
	}
	defer func() {
		client.Close()
		server.Close()
		p.track(client, false)
		p.track(server, false)
	}()
	p.mu.Lock()
	limit := p.cutAfter
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pipe(server, client, 0); done <- struct{}{} }()
	go func() { p.pipe(client, server, limit); done <- struct{}{} }()
	<-done
}

// pipe copies src to dst; limit > 0 cuts the connection after that many
// bytes.
func (p *Proxy) pipe(dst, src net.Conn, limit int64) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	var total int64
	for {
		n, err := src.Read(buf)
		if n > 0 {
			var lat time.Duration
			for {
				p.mu.Lock()
				l, hang, closed := p.latency, p.hang, p.closed
				p.mu.Unlock()
				if closed {
					return
				}
				if !hang {
					lat = l
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
			if lat > 0 {
				time.Sleep(lat)
			}
			chunk := buf[:n]
			if limit > 0 && total+int64(n) >= limit {
				chunk = buf[:limit-total]
				dst.Write(chunk)
				p.mu.Lock()
				p.cutEvents++
				p.mu.Unlock()
				return
			}
			if _, werr := dst.Write(chunk); werr != nil {
				return
			}
			total += int64(n)
		}
		if err != nil {
			return // EOF or a closed connection: either way this direction is done
		}
	}
}
