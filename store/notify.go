package store

import "sync"

// commits wakes whoever waits for the next committed write of this DB:
// the local IMAP endpoint's idling sessions, so a change made in this
// process (a sync pass, a local change, another session) reaches them at
// once. Writes of other processes (the CLI) are not seen here; a waiter
// checks the database itself now and then for those.
type commits struct {
	mu sync.Mutex
	ch chan struct{} // closed at the next commit; nil when nobody waits
}

func (c *commits) next() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch == nil {
		c.ch = make(chan struct{})
	}
	return c.ch
}

func (c *commits) fire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ch != nil {
		close(c.ch)
		c.ch = nil
	}
}

// NextCommit returns a channel closed when the next write transaction
// through this DB commits. Take it before reading what the write would
// change, so no commit falls between the read and the wait. It says
// nothing about what changed, nor about other processes' writes.
func (db *DB) NextCommit() <-chan struct{} { return db.commits.next() }
