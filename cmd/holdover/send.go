package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"
	"github.com/spf13/cobra"

	hsync "github.com/holdover/holdover/sync"
)

// outgoing is a message on its way into the queue.
type outgoing struct {
	header textproto.Header
	body   io.Reader // what follows the header
}

// readOutgoing reads a message's header, leaving the body streamed.
func readOutgoing(r io.Reader) (*outgoing, error) {
	br := bufio.NewReader(r)
	h, err := textproto.ReadHeader(br)
	if err != nil {
		return nil, fmt.Errorf("message header: %w", err)
	}
	return &outgoing{header: h, body: br}, nil
}

// addresses parses the addresses of header fields.
func (o *outgoing) addresses(fields ...string) ([]string, error) {
	var out []string
	for _, f := range fields {
		for _, v := range o.header.Values(f) {
			list, err := mail.ParseAddressList(decodeWords(v))
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			for _, a := range list {
				out = append(out, a.Address)
			}
		}
	}
	return out, nil
}

func decodeWords(s string) string {
	d, err := new(mime.WordDecoder).DecodeHeader(s)
	if err != nil {
		return s
	}
	return d
}

// reader returns the message without its Bcc (and Resent-Bcc) header,
// which must not travel with the message.
func (o *outgoing) reader() (io.Reader, error) {
	o.header.Del("Bcc")
	o.header.Del("Resent-Bcc")
	var b bytes.Buffer
	if err := textproto.WriteHeader(&b, o.header); err != nil {
		return nil, err
	}
	return io.MultiReader(&b, o.body), nil
}

// queue submits a message and returns its Message-ID.
func (a *app) queue(ctx context.Context, account string, env hsync.Envelope, msg io.Reader) (string, error) {
	_, db, l, err := a.localAPI(ctx)
	if err != nil {
		return "", err
	}
	defer db.Close()
	return l.Submit(ctx, account, env, msg)
}

func (a *app) mailSendCmd(account *string) *cobra.Command {
	var from, subject, bodyFile string
	var to, cc, bcc, attach []string
	cmd := &cobra.Command{
		Use:   "send [--to ADDR… --subject S --body-file F --attach F…]",
		Short: "Queue a message: an RFC 5322 message on stdin, or one built from the flags",
		Long: `Queue a message for sending. It is stored durably before the command exits 0,
sent once the account's SMTP server answers, and never sent twice.

Without --to/--cc/--bcc, an RFC 5322 message is read from stdin and its
recipients are taken from its To, Cc and Bcc headers (Bcc is removed).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			var o *outgoing
			if len(to)+len(cc)+len(bcc) == 0 {
				if o, err = readOutgoing(os.Stdin); err != nil {
					return err
				}
			} else {
				raw, err := buildMessage(from, subject, bodyFile, to, cc, attach)
				if err != nil {
					return err
				}
				if o, err = readOutgoing(raw); err != nil {
					return err
				}
				for _, b := range bcc {
					o.header.Add("Bcc", b)
				}
			}
			return a.sendOutgoing(cmd.Context(), cfg, sendRequest{account: *account}, o)
		},
	}
	cmd.Flags().StringVar(&from, "from", "", "From address (default: the account's mail.address)")
	cmd.Flags().StringSliceVar(&to, "to", nil, "recipient (repeatable)")
	cmd.Flags().StringSliceVar(&cc, "cc", nil, "copy recipient (repeatable)")
	cmd.Flags().StringSliceVar(&bcc, "bcc", nil, "blind copy recipient (repeatable)")
	cmd.Flags().StringVar(&subject, "subject", "", "subject")
	cmd.Flags().StringVar(&bodyFile, "body-file", "", "file with the text body (- for stdin)")
	cmd.Flags().StringSliceVar(&attach, "attach", nil, "file to attach (repeatable)")
	return cmd
}

// buildMessage writes a MIME message from the flags of `mail send`.
func buildMessage(from, subject, bodyFile string, to, cc, attach []string) (io.Reader, error) {
	var h gomail.Header
	h.SetDate(time.Now())
	h.SetSubject(subject)
	set := func(key string, list []string) error {
		var addrs []*gomail.Address
		for _, s := range list {
			a, err := mail.ParseAddress(s)
			if err != nil {
				return fmt.Errorf("--%s %q: %w", strings.ToLower(key), s, err)
			}
			addrs = append(addrs, &gomail.Address{Name: a.Name, Address: a.Address})
		}
		if len(addrs) > 0 {
			h.SetAddressList(key, addrs)
		}
		return nil
	}
	if err := set("To", to); err != nil {
		return nil, err
	}
	if err := set("Cc", cc); err != nil {
		return nil, err
	}
	if from != "" {
		if err := set("From", []string{from}); err != nil {
			return nil, err
		}
	}
	var text []byte
	var err error
	switch bodyFile {
	case "":
	case "-":
		text, err = io.ReadAll(os.Stdin)
	default:
		text, err = os.ReadFile(bodyFile)
	}
	if err != nil {
		return nil, fmt.Errorf("--body-file: %w", err)
	}
	var b bytes.Buffer
	w, err := gomail.CreateWriter(&b, h)
	if err != nil {
		return nil, err
	}
	var th gomail.InlineHeader
	th.Set("Content-Type", "text/plain; charset=utf-8")
	tw, err := w.CreateSingleInline(th)
	if err != nil {
		return nil, err
	}
	tw.Write(text)
	tw.Close()
	for _, path := range attach {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("--attach: %w", err)
		}
		var ah gomail.AttachmentHeader
		ctype := mime.TypeByExtension(filepath.Ext(path))
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		ah.Set("Content-Type", ctype)
		ah.SetFilename(filepath.Base(path))
		aw, err := w.CreateAttachment(ah)
		if err == nil {
			_, err = io.Copy(aw, f)
			aw.Close()
		}
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("--attach %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return &b, nil
}
