package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"
)

func (a *app) accountCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "account", Short: "List stored accounts, purge one removed from the configuration, sign one in or out (OAuth2)"}
	var asJSON bool
	ls := &cobra.Command{
		Use: "ls", Short: "List the accounts in the store and whether the configuration has them", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			accts, err := db.Accounts(cmd.Context())
			if err != nil {
				return err
			}
			type row struct {
				Name       string `json:"name"`
				Configured bool   `json:"configured"`
			}
			rows := []row{}
			for _, ac := range accts {
				_, ok := cfg.Account(ac.Name)
				rows = append(rows, row{ac.Name, ok})
			}
			if asJSON {
				return a.printJSON(rows)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCOUNT\tCONFIGURED")
			for _, r := range rows {
				fmt.Fprintf(tw, "%s\t%v\n", r.Name, r.Configured)
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var yes bool
	purge := &cobra.Command{
		Use:   "purge NAME --yes",
		Short: "Delete everything stored for an account that is no longer configured (mail, queue, history)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			cfg, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if _, ok := cfg.Account(name); ok {
				return fmt.Errorf("account %q is still in the configuration: remove it there first (the daemon then stops syncing it)", name)
			}
			counts, err := db.OutboxCounts(cmd.Context())
			if err != nil {
				return err
			}
			unsent := 0
			for state, n := range counts[name] {
				if state != "done" && state != "cancelled" {
					unsent += n
				}
			}
			if !yes {
				return fmt.Errorf("purging %q deletes its local mirror and %d unsent actions for good; run again with --yes", name, unsent)
			}
			found, err := db.PurgeAccount(cmd.Context(), name)
			if err != nil {
				return err
			}
			if !found {
				return fmt.Errorf("no account %q in %s", name, db.Path())
			}
			fmt.Fprintf(a.stdout, "purged account %s\n", name)
			return nil
		},
	}
	purge.Flags().BoolVar(&yes, "yes", false, "really delete")
	cmd.AddCommand(ls, purge)
	cmd.AddCommand(a.loginCmds()...)
	return cmd
}
