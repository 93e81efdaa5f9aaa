package main

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"slices"
	"strings"

	"github.com/holdover/holdover/config"
	hsync "github.com/holdover/holdover/sync"
)

// The classes of failure that sendmail reports with their own exit code
// (see sendmailExitCode); for mail send they are plain errors.
type (
	usageError  struct{ error } // the command line is wrong
	dataError   struct{ error } // the message, or an address in it, is wrong
	configError struct{ error } // the configuration lacks something
)

// sendRequest is what a command asks sendOutgoing to queue.
type sendRequest struct {
	account  string   // "" chooses the account by the sender
	from     string   // the envelope sender asked for (sendmail -f); "" for none
	fullName string   // the name in a From header holdover adds (sendmail -F)
	rcpts    []string // the envelope recipients; none takes To, Cc and Bcc
	quiet    bool     // print nothing once queued (sendmail's contract)
}

// sendOutgoing fills in the envelope and queues the message.
func (a *app) sendOutgoing(ctx context.Context, cfg *config.Config, req sendRequest, o *outgoing) error {
	rcpts := req.rcpts
	if len(rcpts) == 0 {
		var err error
		if rcpts, err = o.headerRecipients(); err != nil {
			return err
		}
	}
	rcpts = uniqueAddresses(rcpts)
	acct, envFrom, note, err := envelopeSender(cfg, a.cfgPath(), req, o)
	if err != nil {
		return err
	}
	if note != "" {
		fmt.Fprintf(a.stderr, "holdover: note: %s\n", note)
	}
	if !o.header.Has("From") {
		from := envFrom
		if req.fullName != "" {
			from = (&mail.Address{Name: req.fullName, Address: envFrom}).String()
		}
		o.header.Set("From", from)
	}
	if len(rcpts) == 0 {
		return usageError{errors.New("no recipients: give --to, or To/Cc/Bcc headers")}
	}
	r, err := o.reader()
	if err != nil {
		return err
	}
	id, err := a.queue(ctx, acct.Name, hsync.Envelope{From: envFrom, To: rcpts}, r)
	if err != nil {
		return err
	}
	if !req.quiet {
		fmt.Fprintf(a.stdout, "queued <%s> for %d recipients as %s\n", id, len(rcpts), acct.Name)
	}
	return nil
}

// ownAddresses returns the addresses an account sends as: mail.address
// (which config defaults to an address-shaped username) and mail.aliases.
func ownAddresses(a *config.Account) []string {
	if a.Mail == nil {
		return nil
	}
	var out []string
	if a.Mail.Address != "" {
		out = append(out, a.Mail.Address)
	}
	return append(out, a.Mail.Aliases...)
}

func ownsAddress(a *config.Account, addr string) bool {
	return slices.ContainsFunc(ownAddresses(a), func(s string) bool { return strings.EqualFold(s, addr) })
}

// pickAccount chooses the account to send as: the one named, else the one
// that owns the sender address, else the only one that can send.
func pickAccount(cfg *config.Config, name, from string) (*config.Account, error) {
	if name != "" {
		a, ok := cfg.Account(name)
		if !ok {
			return nil, usageError{fmt.Errorf("no account %q in the configuration", name)}
		}
		if a.Mail == nil || a.Mail.SMTP == nil {
			return nil, configError{fmt.Errorf("account %q has no mail.smtp to send with", name)}
		}
		return a, nil
	}
	var senders []*config.Account
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if a.Mail == nil || a.Mail.SMTP == nil {
			continue
		}
		if from != "" && ownsAddress(a, from) {
			return a, nil
		}
		senders = append(senders, a)
	}
	switch len(senders) {
	case 0:
		return nil, configError{errors.New("no account has mail.smtp configured")}
	case 1:
		return senders[0], nil
	}
	var names []string
	for _, a := range senders {
		names = append(names, a.Name)
	}
	if from == "" {
		return nil, configError{fmt.Errorf("several accounts can send (%s): choose one with --account", strings.Join(names, ", "))}
	}
	return nil, configError{fmt.Errorf("several accounts can send (%s) and none has %s as mail.address or in mail.aliases: choose one with --account, or add it to the right account's mail.aliases",
		strings.Join(names, ", "), from)}
}

// envelopeSender chooses the account and the envelope sender: the
// address asked for (-f), else the From header's, when the account owns
// it (mail.address, mail.aliases); else the account's mail.address,
// because providers refuse or rewrite a sender that is not the account's
// (cron's "-f root", a script's From: root@localhost). An account with
// no known address sends as the address asked for or found, as before
// mail.address existed. note says why an address given with -f was not
// used.
func envelopeSender(cfg *config.Config, cfgPath string, req sendRequest, o *outgoing) (acct *config.Account, from, note string, err error) {
	asked := ""
	if req.from != "" && req.from != "<>" {
		a, perr := mail.ParseAddress(req.from)
		switch {
		case perr == nil:
			asked = a.Address
		case !strings.Contains(req.from, "@"):
			// A login name (cron passes the user's): no address to use.
		default:
			return nil, "", "", usageError{fmt.Errorf("sender %q: %w", req.from, perr)}
		}
	}
	cand := asked
	if cand == "" {
		// A From that is no address, such as Debian cron's "root (Cron
		// Daemon)", stays in the message; the envelope is the account's.
		if froms, err := o.addresses("From"); err == nil && len(froms) > 0 {
			cand = froms[0]
		}
	}
	if acct, err = pickAccount(cfg, req.account, cand); err != nil {
		return nil, "", "", err
	}
	own := acct.Mail.Address
	switch {
	case cand != "" && ownsAddress(acct, cand):
		from = cand
	case own != "":
		from = own
	case cand != "":
		from = cand
	default:
		where := cfgPath
		if p, ok := cfg.Origin("accounts." + acct.Name + ".mail"); ok {
			where = p.String()
		}
		return nil, "", "", configError{fmt.Errorf("no sender address for account %q: its username %q is not an address; set mail.address (accounts[].mail.address, under mail: at %s), or give sendmail -f ADDRESS or a From header",
			acct.Name, acct.Mail.SMTP.Username, where)}
	}
	if req.from != "" && !strings.EqualFold(from, asked) {
		note = fmt.Sprintf("sender %q is not an address of account %q (mail.address, mail.aliases): sending as %s", req.from, acct.Name, from)
	}
	return acct, from, note, nil
}

// recipients parses addresses given on a command line or in headers:
// each value may be a list ("a@x, B <b@y>"), as Postfix accepts.
func recipients(values []string) ([]string, error) {
	var out []string
	for _, v := range values {
		list, err := mail.ParseAddressList(decodeWords(v))
		if err != nil {
			if !strings.Contains(v, "@") {
				return nil, fmt.Errorf("recipient %q is not a full address (user@domain): mail leaves through the provider, which has no local users", v)
			}
			return nil, fmt.Errorf("recipient %q: %w", v, err)
		}
		for _, a := range list {
			out = append(out, a.Address)
		}
	}
	return out, nil
}

// headerRecipients returns the recipients of the To, Cc and Bcc fields,
// or of the Resent- ones when the message is being resent (RFC 5322
// 3.6.6), as sendmail -t does.
func (o *outgoing) headerRecipients() ([]string, error) {
	fields := []string{"To", "Cc", "Bcc"}
	for _, f := range []string{"Resent-To", "Resent-Cc", "Resent-Bcc"} {
		if o.header.Has(f) {
			fields = []string{"Resent-To", "Resent-Cc", "Resent-Bcc"}
			break
		}
	}
	var values []string
	for _, f := range fields {
		values = append(values, o.header.Values(f)...)
	}
	rcpts, err := recipients(values)
	if err != nil {
		return nil, dataError{fmt.Errorf("message header: %w", err)}
	}
	return rcpts, nil
}

// uniqueAddresses drops repeated addresses (domains compared without
// case), keeping the first of each.
func uniqueAddresses(list []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, a := range list {
		k := a
		if i := strings.LastIndexByte(a, '@'); i >= 0 {
			k = a[:i] + strings.ToLower(a[i:])
		}
		if !seen[k] {
			seen[k] = true
			out = append(out, a)
		}
	}
	return out
}
