package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/config"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// localAPI opens the store with the local-change API. Every change is
// committed with its outbox row before the command exits 0; a running
// daemon is then nudged so it replays at once (if none runs, the change
// waits in the queue for the next start).
func (a *app) localAPI(ctx context.Context) (*config.Config, *store.DB, *outbox.Local, error) {
	cfg, db, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	// The daemon makes the spool directory only for accounts with IMAP;
	// an SMTP-only account sends through it too.
	spool := filepath.Join(cfg.DataDir, "spool")
	if err := os.MkdirAll(spool, 0o700); err != nil {
		db.Close()
		return nil, nil, nil, fmt.Errorf("spool dir: %w", err)
	}
	l := &outbox.Local{DB: db, SpoolDir: spool, Notify: func(account, service string) {
		nctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		control.NewClient(cfg.ControlSocket()).Nudge(nctx, account, service) // best effort: no daemon is fine
	}}
	return cfg, db, l, nil
}

// flagNames maps the friendly names of `mail flag` to IMAP flags; any
// other word is used as a keyword as it is.
var flagNames = map[string]string{
	"seen": `\Seen`, "read": `\Seen`, "flagged": `\Flagged`, "answered": `\Answered`,
	"draft": `\Draft`, "deleted": `\Deleted`,
}

func parseFlagArgs(args []string) (add, remove []string, err error) {
	for _, arg := range args {
		if len(arg) < 2 || (arg[0] != '+' && arg[0] != '-') {
			return nil, nil, fmt.Errorf("flag %q: write +name to add or -name to remove (seen, flagged, answered, draft, or a keyword)", arg)
		}
		name := arg[1:]
		if f, ok := flagNames[strings.ToLower(strings.TrimPrefix(name, `\`))]; ok {
			name = f
		}
		if arg[0] == '+' {
			add = append(add, name)
		} else {
			remove = append(remove, name)
		}
	}
	return add, remove, nil
}

func (a *app) mailFlagCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "flag ID +seen|-seen|+flagged|… ",
		Short: "Change a message's flags now; the change reaches the server as a +/- delta",
		Args:  cobra.MinimumNArgs(2),
		// Keep "-seen" an argument, not a flag.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			args = a.takeConfigFlag(args)
			if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
				return cmd.Help()
			}
			if len(args) < 2 {
				return fmt.Errorf("give a message ID and at least one +flag or -flag")
			}
			id, err := parseMessageID(args[0])
			if err != nil {
				return err
			}
			add, remove, err := parseFlagArgs(args[1:])
			if err != nil {
				return err
			}
			return a.changeMessage(cmd.Context(), id, "flags changed", func(l *outbox.Local) (int64, error) {
				return l.Flag(cmd.Context(), id, add, remove)
			})
		},
	}
}

// changeMessage runs one local change on a message through the outbox and
// reports the queued action.
func (a *app) changeMessage(ctx context.Context, id int64, done string, change func(*outbox.Local) (int64, error)) error {
	_, db, l, err := a.localAPI(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	action, err := change(l)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "message %d: %s (outbox action %d)\n", id, done, action)
	return nil
}

func (a *app) mailMoveCmd() *cobra.Command {
	return &cobra.Command{
		Use: "move ID FOLDER", Short: "Move a message to another folder now; queued for the server", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseMessageID(args[0])
			if err != nil {
				return err
			}
			return a.changeMessage(cmd.Context(), id, "moved to "+args[1], func(l *outbox.Local) (int64, error) {
				return l.Move(cmd.Context(), id, args[1])
			})
		},
	}
}

func (a *app) mailDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use: "delete ID", Short: "Delete a message (to Trash when there is one); queued for the server", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseMessageID(args[0])
			if err != nil {
				return err
			}
			return a.changeMessage(cmd.Context(), id, "deleted", func(l *outbox.Local) (int64, error) {
				return l.Delete(cmd.Context(), id)
			})
		},
	}
}

// takeConfigFlag removes a --config flag from the arguments of a command
// that parses its own (so "-seen" stays an argument) and applies it.
func (a *app) takeConfigFlag(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		switch {
		case args[i] == "--config" && i+1 < len(args):
			a.configPath = args[i+1]
			i++
		case strings.HasPrefix(args[i], "--config="):
			a.configPath = strings.TrimPrefix(args[i], "--config=")
		default:
			out = append(out, args[i])
		}
	}
	return out
}
