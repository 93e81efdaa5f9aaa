package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"
)

func (a *app) dbCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "db", Short: "Check or back up the local database"}
	var asJSON bool
	check := &cobra.Command{
		Use:   "check",
		Short: "Run PRAGMA integrity_check and print quick statistics",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			rep, err := db.Check(cmd.Context())
			if err != nil {
				return err
			}
			if keep := cfg.Outbox.KeepDone; keep > 0 {
				p, err := db.PrunableOutbox(cmd.Context(), keep)
				if err != nil {
					return err
				}
				rep.OutboxPrunable, rep.KeepDone = &p, keep.String()
			}
			if asJSON {
				if err := a.printJSON(rep); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "database:  %s\n", rep.Path)
				fmt.Fprintf(a.stdout, "schema:    %d\njournal:   %s\nsize:      %d bytes (+%d WAL)\n", rep.SchemaVersion, rep.JournalMode, rep.SizeBytes, rep.WALBytes)
				names := make([]string, 0, len(rep.Tables))
				for n := range rep.Tables {
					names = append(names, n)
				}
				sort.Strings(names)
				for _, n := range names {
					fmt.Fprintf(a.stdout, "  %-16s %d rows\n", n, rep.Tables[n])
				}
				if p := rep.OutboxPrunable; p != nil {
					fmt.Fprintf(a.stdout, "prunable:  %d finished outbox actions, %d bytes (older than outbox.keep_done %s; the daemon prunes them hourly)\n", p.Rows, p.Bytes, rep.KeepDone)
				} else {
					fmt.Fprintf(a.stdout, "prunable:  none (outbox.keep_done is 0: finished actions are kept)\n")
				}
				for _, line := range rep.Integrity {
					fmt.Fprintf(a.stdout, "integrity: %s\n", line)
				}
			}
			if !rep.OK {
				return &exitError{code: 2, err: fmt.Errorf("integrity check of %s failed: restore a backup", rep.Path)}
			}
			return nil
		},
	}
	check.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(check, &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the database to FILE (safe while the daemon runs)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Backup(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "backed up %s to %s\n", db.Path(), args[0])
			return nil
		},
	})
	return cmd
}
