package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
)

func (a *app) statusCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each account's services, queue and the daemon (works with the daemon stopped)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			// A broken file must not hide the status (openStore is
			// lenient): that is when an admin needs it most.
			cfg, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			st, err := daemon.CollectStatus(cmd.Context(), cfg, db)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(st)
			}
			printStatus(a.stdout, st, time.Now())
			if st.Daemon.Info != nil && cfg != nil {
				// A sign-in link for the page (it works once): only in the
				// text output, never in --json.
				if u, err := loginURL(cmd.Context(), cfg.ControlSocket()); err == nil {
					fmt.Fprintf(a.stdout, "\nstatus page: %s (sign-in link, works once; holdover open starts a browser)\n", u)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printStatus(w io.Writer, st daemon.Status, now time.Time) {
	d := st.Daemon
	switch {
	case !d.Running:
		fmt.Fprintln(w, "daemon: not running")
	case d.Info == nil:
		fmt.Fprintf(w, "daemon: running (pid %d): %s\n", d.PID, d.Error)
	default:
		fmt.Fprintf(w, "daemon: running (pid %d, %s, up %s)\n", d.PID, d.Info.Version, now.Sub(d.Info.StartedAt).Round(time.Second))
		r := d.Info.Reload
		if r.OK {
			fmt.Fprintf(w, "config: %s applied (generation %d) at %s\n", d.Info.ConfigPath, r.Generation, r.At.Local().Format(time.DateTime))
		} else {
			fmt.Fprintf(w, "config: last reload REJECTED at %s, running generation %d: %s\n", r.At.Local().Format(time.DateTime), r.Generation, r.Error)
		}
		for _, l := range d.Info.Listeners {
			fmt.Fprintf(w, "listening: %s on %s\n", l.Name, l.Addr)
		}
	}
	for _, acct := range st.Accounts {
		fmt.Fprintf(w, "\naccount %s", acct.Name)
		if !acct.Configured {
			fmt.Fprint(w, " (not in the configuration; data kept)")
		}
		fmt.Fprintln(w)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, s := range acct.Services {
			extra := ""
			if s.LastSync != nil {
				extra = "last sync " + apiv1.Clock(*s.LastSync, now)
				if s.LastPass != "" {
					extra += ": " + s.LastPass
				}
			}
			switch {
			case s.LastError == "":
			case s.State == store.HealthUp:
				// The service worked since: the error is history, not
				// something to act on.
				extra = strings.TrimSpace(extra + "  earlier error: " + s.LastError)
			default:
				extra = strings.TrimSpace(extra + "  last error: " + s.LastError)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.Service, s.Words, extra)
		}
		tw.Flush()
		if si := acct.SignIn; si != nil {
			fmt.Fprintf(w, "  sign-in: %s\n", signInWords(*si, acct.Name, now))
		}
		// The words, not the stored states: an action waiting for a
		// provider that is down is waiting, not failed.
		fmt.Fprintf(w, "  outbox: %s", apiv1.QueueWords(acct.Queue))
		if acct.OldestWaiting != nil {
			fmt.Fprintf(w, " (oldest queued %s ago)", apiv1.Duration(now.Sub(*acct.OldestWaiting)))
		}
		fmt.Fprintln(w)
		if acct.OpenConflicts > 0 {
			fmt.Fprintf(w, "  conflicts: %d open\n", acct.OpenConflicts)
		}
	}
}

// signInWords says what is stored of an OAuth2 sign-in, never a token.
func signInWords(si apiv1.SignIn, account string, now time.Time) string {
	switch {
	case si.Problem != "":
		return si.Problem
	case !si.SignedIn:
		return "not signed in: run holdover account login " + account
	case si.Expires != nil && si.Expires.After(now):
		return "signed in (access token valid until " + apiv1.Clock(*si.Expires, now) + ", renewed by itself)"
	}
	return "signed in (access token renewed at next use)"
}
