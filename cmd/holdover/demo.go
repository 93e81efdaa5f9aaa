package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon/demo"
)

func (a *app) demoCmd() *cobra.Command {
	var keep, open bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "See holdover work: loopback providers, an outage and the recovery, in one minute",
		Long: `Starts IMAP, SMTP, CalDAV and WebDAV providers on loopback, an OAuth2
identity provider that IMAP and SMTP sign in with, the daemon against them,
and scripts an outage: reads, flags, moves, sends (from a mail app and from a
cron job through holdover sendmail), calendar and file edits keep working
while the providers and their sign-in are away, and reach them once they are
back. Needs no configuration and touches nothing outside a temp directory.
With --keep everything keeps running afterwards, to explore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o := demo.Options{Out: a.stdout, Keep: keep, Version: buildVersion()}
			if open {
				o.Open = func(u string) {
					if err := openBrowser(u); err != nil {
						fmt.Fprintf(a.stderr, "cannot start a browser (%v): open the link above yourself\n", err)
					}
				}
			}
			return demo.Run(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "leave everything running afterwards (Ctrl-C stops it) and keep the data directory")
	cmd.Flags().BoolVar(&open, "open", false, "open the status page in a browser to watch the story")
	return cmd
}
