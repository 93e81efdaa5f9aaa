package main

import (
	"errors"
	"fmt"
	"strings"
)

// sendmailMode is what a sendmail command line asks for.
type sendmailMode int

const (
	modeEnqueue   sendmailMode = iota // -bm, the default: queue the message on stdin
	modeListQueue                     // -bp, or the binary called as mailq
	modeHelp                          // --help
)

// sendmailOpts is a parsed sendmail command line.
type sendmailOpts struct {
	mode sendmailMode
	// fromHeaders (-t) adds the recipients of the To, Cc and Bcc headers
	// to those of the command line, as Postfix does since 2.1.
	fromHeaders bool
	// keepDots (-i, -oi) makes a line holding only "." data; without it
	// such a line ends the message, as in every sendmail.
	keepDots bool
	sender   string // -f or -r: the envelope sender asked for
	fullName string // -F: the name of a From header holdover adds
	account  string // -a, --account (holdover's, like msmtp's)
	config   string // --config (also accepted before "sendmail")
	rcpts    []string
}

// sendmailValueOpts are the single-letter options that take a value,
// attached (-fjoe) or as the next argument (-f joe), as in Postfix's
// getopt string "A:B:C:F:GIL:N:O:R:UV:X:b:ce:f:h:imno:p:r:q:tvx", plus
// holdover's own -a.
const sendmailValueOpts = "ABCFLNORVXabefhopqr"

// sendmailFlagOpts take no value and may be grouped (-ti).
const sendmailFlagOpts = "GIUcimntvx"

// parseSendmailArgs reads a sendmail command line the way Postfix's
// sendmail(1) does: options first (grouped or not, values attached or
// separate), then recipients; "--" or the first argument that is not an
// option ends the options. Options holdover has no use for are accepted
// and ignored; an unknown option is an error (exit 64).
func parseSendmailArgs(args []string) (sendmailOpts, error) {
	var o sendmailOpts
	i, dashdash := 0, false
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i, dashdash = i+1, true
			break
		}
		if !strings.HasPrefix(arg, "-") || arg == "-" {
			break
		}
		if strings.HasPrefix(arg, "--") {
			skip, err := o.longOption(arg, args[i+1:])
			if err != nil {
				return o, err
			}
			i += skip
			continue
		}
		// -h alone is help to a person; -h N is a hop count to a program.
		if arg == "-h" && (i+1 == len(args) || !isDigits(args[i+1])) {
			o.mode = modeHelp
			continue
		}
		if arg == "-q" { // a queue run: -q takes no value here (Postfix)
			return o, o.value('q', "")
		}
		// -V alone was Postfix's VERP flag before 2.3 (a value since).
		if arg == "-V" && i+1 == len(args) {
			continue
		}
		skip, err := o.shortOptions(arg[1:], args[i+1:])
		if err != nil {
			return o, err
		}
		i += skip
	}
	for _, arg := range args[i:] {
		// Postfix would take it for an address; without "--" it is far
		// more likely an option given after the recipients, which must
		// not go unnoticed.
		if strings.HasPrefix(arg, "-") && !dashdash {
			return o, fmt.Errorf("option %s after the recipients: put every option before them (or before --)", arg)
		}
		o.rcpts = append(o.rcpts, arg)
	}
	if o.mode == modeListQueue && len(o.rcpts) > 0 {
		return o, errors.New("-bp (list the queue) takes no recipients")
	}
	return o, nil
}

// longOption handles holdover's --options and returns how many of the
// following arguments it used.
func (o *sendmailOpts) longOption(arg string, rest []string) (int, error) {
	name, val, hasVal := strings.Cut(arg, "=")
	var dst *string
	switch name {
	case "--help":
		o.mode = modeHelp
		return 0, nil
	case "--config":
		dst = &o.config
	case "--account":
		dst = &o.account
	default:
		return 0, fmt.Errorf("unknown sendmail option %s", name)
	}
	if hasVal {
		*dst = val
		return 0, nil
	}
	if len(rest) == 0 {
		return 0, fmt.Errorf("%s needs a value", name)
	}
	*dst = rest[0]
	return 1, nil
}

// shortOptions handles one argument of single-letter options (without
// its "-") and returns how many of the following arguments it used.
func (o *sendmailOpts) shortOptions(group string, rest []string) (int, error) {
	for j := 0; j < len(group); j++ {
		c := group[j]
		switch {
		case strings.IndexByte(sendmailFlagOpts, c) >= 0:
			if err := o.flag(c); err != nil {
				return 0, err
			}
		case strings.IndexByte(sendmailValueOpts, c) >= 0:
			if val := group[j+1:]; val != "" {
				return 0, o.value(c, val)
			}
			if len(rest) == 0 {
				return 0, fmt.Errorf("sendmail option -%c needs a value", c)
			}
			return 1, o.value(c, rest[0])
		default:
			return 0, fmt.Errorf("unknown sendmail option -%c", c)
		}
	}
	return 0, nil
}

func (o *sendmailOpts) flag(c byte) error {
	switch c {
	case 't':
		o.fromHeaders = true
	case 'i':
		o.keepDots = true
	case 'I':
		return errors.New("sendmail -I (newaliases): holdover has no alias database")
	}
	// G (gateway), U (initial submission), c, m (me too), n (no
	// aliasing), v (verbose, which mailx passes), x: nothing to do.
	return nil
}

func (o *sendmailOpts) value(c byte, val string) error {
	switch c {
	case 'f', 'r': // -r is the old name of -f
		o.sender = val
	case 'F':
		o.fullName = val
	case 'a':
		o.account = val
	case 'o':
		// -oi is -i; every other -oX[value] (-oem, -odb, -om, -oQ/dir,
		// -oA…) sets something holdover does not have.
		if val == "i" {
			o.keepDots = true
		}
	case 'B':
		if !strings.EqualFold(val, "8BITMIME") && !strings.EqualFold(val, "7BIT") {
			return fmt.Errorf("sendmail -B %s: the body type is 8BITMIME or 7BIT", val)
		}
		// The message is relayed as it is; the provider's server
		// announces 8BITMIME itself.
	case 'b':
		return o.bMode(val)
	case 'q':
		return fmt.Errorf("sendmail -q%s is not supported: the daemon sends queued mail by itself as soon as the provider answers (see holdover outbox ls; holdover sync --once)", val)
	}
	// A, C, L, N, O, R, V, X, e and h: submission mode, sendmail.cf,
	// log label, DSN notify/return/envelope id, options, log file, error
	// mode, hop count. The provider's server decides these.
	return nil
}

func (o *sendmailOpts) bMode(val string) error {
	switch val {
	case "m":
		o.mode = modeEnqueue
	case "p":
		o.mode = modeListQueue
	case "s":
		return errors.New("sendmail -bs (SMTP on stdin and stdout) is not supported: send through holdover's SMTP endpoint (listen.smtp) instead, or pipe the message to sendmail")
	case "d", "D", "l":
		return fmt.Errorf("sendmail -b%s (daemon mode) is not supported: the daemon is holdover run", val)
	default:
		return fmt.Errorf("sendmail -b%s is not supported (holdover knows -bm, queue a message, and -bp, list the queue)", val)
	}
	return nil
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}
