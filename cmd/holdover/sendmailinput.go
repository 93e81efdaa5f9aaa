package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// inputError is a failure to read the message from stdin (exit 65, as
// Postfix's sendmail): telling it apart from a failure to store the
// message decides between "your input is bad" and "try again later".
type inputError struct{ err error }

func (e *inputError) Error() string { return "reading the message from stdin: " + e.err.Error() }
func (e *inputError) Unwrap() error { return e.err }

// inputReader marks the errors of the reader it wraps as inputErrors.
type inputReader struct{ r io.Reader }

func (ir inputReader) Read(p []byte) (int, error) {
	n, err := ir.r.Read(p)
	if err != nil && err != io.EOF {
		err = &inputError{err}
	}
	return n, err
}

// sendmailInput returns the message a sendmail caller writes to stdin:
// a leading mbox "From " line is dropped (mailx and procmail pass one;
// it is no header), and unless keepDots is set the message ends at a line
// holding only ".", whatever follows.
func sendmailInput(stdin io.Reader, keepDots bool) io.Reader {
	br := bufio.NewReader(inputReader{stdin})
	skipFromLines(br)
	if keepDots {
		return br
	}
	return &dotReader{r: br, lineStart: true}
}

// skipFromLines drops leading "From " and ">From " lines, as Postfix's
// sendmail does.
func skipFromLines(br *bufio.Reader) {
	for {
		head, _ := br.Peek(6)
		if !bytes.HasPrefix(head, []byte("From ")) && !bytes.HasPrefix(head, []byte(">From ")) {
			return
		}
		for {
			_, err := br.ReadSlice('\n')
			if !errors.Is(err, bufio.ErrBufferFull) {
				break
			}
		}
	}
}

// dotReader passes its input through up to a line holding only "." (with
// LF or CRLF, or at the very end): sendmail's end of input without -i.
// The dot line is not part of the message, and nothing after it is read.
// Lines starting with ".." are passed as they are: sendmail does not
// unstuff dots (that is SMTP's business).
type dotReader struct {
	r         *bufio.Reader
	pending   []byte // the part of the current line not returned yet
	lineStart bool   // the next byte read from r starts a line
	err       error  // returned once pending is empty
}

func (d *dotReader) Read(p []byte) (int, error) {
	for len(d.pending) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		line, err := d.r.ReadSlice('\n')
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			err = nil // a long line: its rest follows
		case err != nil:
			d.err = err
		}
		if d.lineStart && isDotLine(line, err == io.EOF) {
			d.err = io.EOF
			return 0, io.EOF
		}
		if len(line) > 0 {
			d.lineStart = line[len(line)-1] == '\n'
		}
		// ReadSlice's buffer stays valid until the next read from r,
		// which happens only once pending is consumed.
		d.pending = line
	}
	n := copy(p, d.pending)
	d.pending = d.pending[n:]
	return n, nil
}

func isDotLine(line []byte, atEOF bool) bool {
	switch string(line) {
	case ".\n", ".\r\n":
		return true
	case ".":
		return atEOF
	}
	return false
}
