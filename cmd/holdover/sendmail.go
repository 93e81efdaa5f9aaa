package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// sendmail's exit codes (sysexits.h), which scripts and MTAs-in-waiting
// such as cron and mutt interpret.
const (
	exUsage    = 64
	exTempFail = 75
)

// sendmailCmd is a drop-in for /usr/sbin/sendmail, like msmtp's: it
// exits 0 only once the message is durably queued.
func (a *app) sendmailCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sendmail [-t] [-f FROM] [-a ACCOUNT] [-i] [RECIPIENT…] < message",
		Short: "Queue a message from stdin, like /usr/sbin/sendmail (link or alias it)",
		Long: `A drop-in for /usr/sbin/sendmail: reads an RFC 5322 message from stdin and
queues it, exiting 0 only once it is stored durably. Recipients are the
arguments; with -t, also the To, Cc and Bcc headers (Bcc is removed).
-f sets the envelope sender, -a (or --account) the account; -i, -oi, -odi,
-em and -F are accepted for compatibility.`,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := parseSendmailArgs(args)
			if err != nil {
				return &exitError{code: exUsage, err: err}
			}
			if opts.help {
				return cmd.Help()
			}
			if opts.config != "" {
				a.configPath = opts.config
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return &exitError{code: exTempFail, err: err}
			}
			o, err := readOutgoing(os.Stdin)
			if err != nil {
				return &exitError{code: exUsage, err: err}
			}
			rcpts := opts.rcpts
			if opts.fromHeaders {
				hdr, err := o.addresses("To", "Cc", "Bcc")
				if err != nil {
					return &exitError{code: exUsage, err: err}
				}
				rcpts = append(rcpts, hdr...)
			}
			if len(rcpts) == 0 {
				return &exitError{code: exUsage, err: errors.New("no recipients (give them as arguments, or use -t)")}
			}
			if err := a.sendOutgoing(cmd.Context(), cfg, opts.account, opts.from, rcpts, o); err != nil {
				return &exitError{code: exTempFail, err: err}
			}
			return nil
		},
	}
}

type sendmailOpts struct {
	fromHeaders, help     bool
	from, account, config string
	rcpts                 []string
}

func parseSendmailArgs(args []string) (sendmailOpts, error) {
	var o sendmailOpts
	for i := 0; i < len(args); i++ {
		arg := args[i]
		value := func(flag string) (string, error) {
			if v := strings.TrimPrefix(arg, flag); v != "" && v != arg {
				return strings.TrimPrefix(v, "="), nil
			}
			if i+1 >= len(args) {
				return "", fmt.Errorf("%s needs a value", flag)
			}
			i++
			return args[i], nil
		}
		var err error
		switch {
		case arg == "-h" || arg == "--help":
			o.help = true
		case arg == "-t":
			o.fromHeaders = true
		case arg == "-i" || arg == "-oi" || arg == "-odi" || arg == "-em" || arg == "-Am" || arg == "-Ac" || arg == "--":
		case strings.HasPrefix(arg, "-F"):
			_, err = value("-F") // the full name: taken from the From header instead
		case strings.HasPrefix(arg, "-f"):
			o.from, err = value("-f")
		case strings.HasPrefix(arg, "--account"):
			o.account, err = value("--account")
		case strings.HasPrefix(arg, "-a"):
			o.account, err = value("-a")
		case strings.HasPrefix(arg, "--config"):
			o.config, err = value("--config")
		case strings.HasPrefix(arg, "-b") || strings.HasPrefix(arg, "-q"):
			return o, fmt.Errorf("sendmail %s is not supported: holdover only queues messages (see holdover outbox ls)", arg)
		case strings.HasPrefix(arg, "-"):
			return o, fmt.Errorf("unknown sendmail option %s", arg)
		default:
			o.rcpts = append(o.rcpts, arg)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}
