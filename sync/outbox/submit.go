package outbox

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strings"
	"time"

	"github.com/holdover/holdover/store"
	hsync "github.com/holdover/holdover/sync"
)

// maxHeaderBytes bounds the header block read into memory; the body is
// streamed.
const maxHeaderBytes = 1 << 20

// ErrNoRecipients reports a message with nobody to send it to.
var ErrNoRecipients = errors.New("no recipients")

// Submit queues a message to send as account. It returns only once the
// message and its outbox row are committed (synchronous=FULL): the SMTP
// endpoint answers 250, and sendmail exits 0, after that and not before.
// The Message-ID is fixed here (added when the message has none, with a
// Date header when that is missing too); a message whose Message-ID is
// already queued or sent is not queued again (a client retrying after a
// lost 250 sends nothing twice).
func (l *Local) Submit(ctx context.Context, account string, env hsync.Envelope, msg io.Reader) (string, error) {
	if len(env.To) == 0 {
		return "", ErrNoRecipients
	}
	spool, size, msgID, err := l.spool(msg)
	if err != nil {
		return "", err
	}
	defer func() {
		spool.Close()
		os.Remove(spool.Name())
	}()
	key := "send:" + msgID
	queued := false
	err = l.DB.Write(ctx, func(tx *store.Tx) error {
		last, _, err := tx.LastOpenOutbox(ctx, account, key)
		if err != nil {
			return err
		}
		if last.ID != 0 {
			queued = true
			return nil
		}
		if done, err := tx.OutboxDoneOnKey(ctx, account, key); err != nil || done {
			queued = done
			return err
		}
		if _, err := spool.Seek(0, io.SeekStart); err != nil {
			return err
		}
		bodyID, err := tx.InsertMailBody(ctx, account, msgID, size, spool)
		if err != nil {
			return err
		}
		_, err = tx.EnqueueOutbox(ctx, store.OutboxAction{Account: account, Kind: KindSend, TargetKey: key, BodyID: bodyID,
			Payload: encode(SendPayload{Envelope: env, MessageID: msgID, Size: size})})
		return err
	})
	if err != nil {
		return "", fmt.Errorf("queue message: %w", err)
	}
	if !queued {
		l.notify(account, "smtp")
	}
	return msgID, nil
}

// spool copies the message to a temp file, fixing its Message-ID and Date
// on the way, so that no network read happens inside a transaction.
func (l *Local) spool(msg io.Reader) (*os.File, int64, string, error) {
	br := bufio.NewReader(msg)
	header, err := readHeader(br)
	if err != nil {
		return nil, 0, "", err
	}
	parsed, err := mail.ReadMessage(bytes.NewReader(append(append([]byte{}, header...), '\r', '\n')))
	if err != nil {
		return nil, 0, "", fmt.Errorf("message header: %w", err)
	}
	var extra strings.Builder
	msgID := strings.Trim(strings.TrimSpace(parsed.Header.Get("Message-ID")), "<>")
	if msgID == "" {
		msgID = newMessageID()
		extra.WriteString("Message-ID: <" + msgID + ">\r\n")
	}
	if parsed.Header.Get("Date") == "" {
		extra.WriteString("Date: " + time.Now().Format(time.RFC1123Z) + "\r\n")
	}
	f, err := os.CreateTemp(l.SpoolDir, "holdover-submit-*")
	if err != nil {
		return nil, 0, "", fmt.Errorf("spool message: %w", err)
	}
	n1, err := io.WriteString(f, extra.String())
	var n2, n3 int64
	if err == nil {
		var n int
		n, err = f.Write(header)
		n2 = int64(n)
	}
	if err == nil {
		n3, err = io.Copy(f, br)
	}
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, 0, "", fmt.Errorf("spool message: %w", err)
	}
	return f, int64(n1) + n2 + n3, msgID, nil
}

// readHeader returns the header block up to and including the blank line
// that ends it (or the whole input when there is no body).
func readHeader(br *bufio.Reader) ([]byte, error) {
	var h []byte
	for {
		line, err := br.ReadSlice('\n')
		h = append(h, line...)
		if len(h) > maxHeaderBytes {
			return nil, fmt.Errorf("message header larger than %d bytes", maxHeaderBytes)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err == io.EOF {
			if len(h) == 0 {
				return nil, errors.New("empty message")
			}
			return h, nil
		}
		if err != nil {
			return nil, err
		}
		if string(line) == "\r\n" || string(line) == "\n" {
			return h, nil
		}
	}
}

func newMessageID() string {
	var b [16]byte
	rand.Read(b[:])
	host, err := os.Hostname()
	if err != nil || host == "" || strings.ContainsAny(host, "<>@ ") {
		host = "localhost"
	}
	return hex.EncodeToString(b[:]) + ".holdover@" + host
}
