package main

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/store"
)

// sendmail's exit codes (sysexits.h), which the programs that call
// sendmail interpret: 75 alone means "try again later" to cron, mutt,
// fetchmail and MTAs, so it is kept for failures that pass by themselves.
const (
	exUsage       = 64 // EX_USAGE: the command line is wrong
	exDataErr     = 65 // EX_DATAERR: the message cannot be read, or an address in it is wrong
	exUnavailable = 69 // EX_UNAVAILABLE: any other failure
	exTempFail    = 75 // EX_TEMPFAIL: database busy or locked beyond its timeout, disk full
	exConfig      = 78 // EX_CONFIG: the configuration is invalid or lacks the sender address
)

const sendmailHelp = `A drop-in for /usr/sbin/sendmail, with the command line of Postfix's
sendmail: reads an RFC 5322 message from stdin and queues it, exiting 0
(silently) only once it is stored durably; the daemon sends it once the
account's SMTP server answers. Link the binary as /usr/sbin/sendmail (or
mailq), or set a program's sendmail command to "holdover sendmail".

Recipients are the arguments after the options (each may be a list,
"a@x, B <b@y>"). Options:

  -t             also send to the To, Cc and Bcc headers (the Resent- ones
                 when present); recipients on the command line are added
  -i, -oi        a line holding only "." is data; without it such a line
                 ends the message, as in every sendmail
  -f ADDR, -r ADDR
                 the envelope sender: used when it is the account's
                 mail.address or one of its mail.aliases, else mail.address
                 is (cron's "-f root" sends as the account)
  -F NAME        the name in the From header added to a message without one
  -a ACCOUNT, --account ACCOUNT
                 the account to send with (default: the one owning the
                 sender address, else the only one with mail.smtp)
  --config FILE  the configuration file
  -bm            queue a message (the default)
  -bp            list the queue, like mailq: the messages not sent yet
  --             ends the options
Values go attached (-fjoe@example.com) or apart (-f joe@example.com);
flags may be grouped (-ti).

Accepted and ignored, because the provider's server decides them: every
-oX[value] but -oi (-oem, -odi, -odb, -om, -oQ/dir…), -B 8BITMIME|7BIT,
-N DSN, -R RET, -V ENVID, -O opt=val, -e X (-em, -ep, -eq), -h N, -L, -C,
-X, -A, -p, -G, -U, -v, -m, -n, -c, -x. -bs (SMTP on stdin) is refused: use
the SMTP endpoint (listen.smtp); -q is refused: the daemon sends by
itself. Any other option is an error.

Without -f, the sender is the From header's address, else the account's
mail.address (which defaults to an SMTP or IMAP username that is an
address). A message without a From header gets one.

Exit codes (sysexits.h):
  0   queued durably
  64  usage: an unknown option, a missing value, no recipients, a bad
      address on the command line
  65  bad message data: a malformed header, an invalid or unqualified
      address in it ("To: root"), -t without recipient headers, or stdin
      failed
  69  any other failure (for instance a damaged or unwritable database):
      not queued; the message says why
  75  temporary: the database stayed busy or locked beyond its timeout, or
      the disk is full; the caller should try again later
  78  configuration: the configuration is invalid, no account can send,
      the daemon never created the database, or no sender address is
      known (the message names the key to set: mail.address)`

// sendmailCmd is a drop-in for /usr/sbin/sendmail, like msmtp's: it
// exits 0 only once the message is durably queued.
func (a *app) sendmailCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "sendmail [OPTION…] [--] [RECIPIENT…] < message",
		Short: "Queue a message from stdin, like /usr/sbin/sendmail (link or alias it)",
		Long:  sendmailHelp,
		// Postfix's command line, not cobra's: -oem is one option, and
		// -f's value may be attached.
		DisableFlagParsing:    true,
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts, err := parseSendmailArgs(args)
			if err != nil {
				return &exitError{code: exUsage, err: err}
			}
			if opts.config != "" {
				a.configPath = opts.config
			}
			switch opts.mode {
			case modeHelp:
				return cmd.Help()
			case modeListQueue:
				if err := a.listSendQueue(cmd.Context()); err != nil {
					return &exitError{code: sendmailExitCode(err), err: err}
				}
				return nil
			}
			if err := a.sendmail(cmd, opts); err != nil {
				return &exitError{code: sendmailExitCode(err), err: err}
			}
			return nil
		},
	}
}

func (a *app) sendmail(cmd *cobra.Command, opts sendmailOpts) error {
	cfg, err := a.loadConfig()
	if err != nil {
		return configError{err}
	}
	rcpts, err := recipients(opts.rcpts)
	if err != nil {
		return usageError{err}
	}
	o, err := readOutgoing(sendmailInput(cmd.InOrStdin(), opts.keepDots))
	if err != nil {
		return dataError{err}
	}
	if opts.fromHeaders {
		hdr, err := o.headerRecipients()
		if err != nil {
			return err
		}
		if len(rcpts)+len(hdr) == 0 {
			return dataError{errors.New("no recipients: -t found no To, Cc or Bcc header, and none were given as arguments")}
		}
		rcpts = append(rcpts, hdr...)
	}
	if len(rcpts) == 0 {
		return usageError{errors.New("no recipients: give them as arguments, or use -t to read them from the headers")}
	}
	return a.sendOutgoing(cmd.Context(), cfg, sendRequest{account: opts.account, from: opts.sender, fullName: opts.fullName, rcpts: rcpts, quiet: true}, o)
}

// sendmailExitCode classifies a failure into sendmail's exit codes.
func sendmailExitCode(err error) int {
	var (
		ue usageError
		de dataError
		ce configError
		ie *inputError
		nd *noDatabaseError
	)
	switch {
	case errors.As(err, &ue):
		return exUsage
	case errors.As(err, &de), errors.As(err, &ie):
		return exDataErr
	case errors.As(err, &ce), errors.As(err, &nd):
		return exConfig
	case store.IsTemporary(err):
		return exTempFail
	}
	return exUnavailable
}

// sendmailArgs lets the binary stand in for sendmail and mailq through a
// link of that name: argv is the program's whole command line.
func sendmailArgs(argv []string) []string {
	if len(argv) == 0 {
		return nil
	}
	switch filepath.Base(argv[0]) {
	case "sendmail":
		return append([]string{"sendmail"}, argv[1:]...)
	case "mailq":
		return append([]string{"sendmail", "-bp"}, argv[1:]...)
	}
	return argv[1:]
}

// noDatabaseError reports a data directory the daemon has not set up yet.
type noDatabaseError struct{ path string }

func (e *noDatabaseError) Error() string {
	return fmt.Sprintf("no database at %s yet: start the daemon once (holdover run) to create it", e.path)
}
