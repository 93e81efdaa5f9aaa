package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/filesync"
)

// conflictsCmd: one list of everything that waits for a person's
// decision, whatever the service (calendar edits both sides made, sends
// that may have gone already).
func (a *app) conflictsCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "conflicts", Short: "List, show and resolve changes made on both sides"}
	var account string
	cmd.PersistentFlags().StringVar(&account, "account", "", "only this account")

	var asJSON, all bool
	ls := &cobra.Command{
		Use: "ls", Short: "List open conflicts (--all: resolved ones too)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			cs, err := daemon.ListConflicts(cmd.Context(), db, store.ConflictFilter{Account: account, OpenOnly: !all})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(cs)
			}
			if len(cs) == 0 {
				fmt.Fprintln(a.stdout, "no conflicts")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACCOUNT\tKIND\tWHAT\tSINCE\tSTATE")
			for _, c := range cs {
				state := "open: holdover conflicts resolve " + fmt.Sprint(c.ID) + " --take " + strings.Join(c.Takes, "|")
				if c.ResolvedAt != nil {
					state = "resolved (" + c.Resolution + ", " + c.Policy + ")"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Account, c.Kind, c.Summary, c.CreatedAt.Local().Format("2006-01-02 15:04"), state)
			}
			return tw.Flush()
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	ls.Flags().BoolVar(&all, "all", false, "resolved conflicts too")

	var showJSON bool
	show := &cobra.Command{
		Use: "show ID", Short: "Show both versions of a conflict", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIDOf("conflict", "conflicts ls", args[0])
			if err != nil {
				return err
			}
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			c, err := db.ConflictByID(cmd.Context(), id)
			if err != nil {
				return err
			}
			doc := daemon.ConflictDoc(c)
			if showJSON {
				return a.printJSON(doc)
			}
			fmt.Fprintf(a.stdout, "Conflict %d (%s, account %s), %s, policy %s\n", c.ID, c.Kind, c.Account, c.CreatedAt.Local().Format(time.RFC1123), c.Policy)
			if !c.Open() {
				fmt.Fprintf(a.stdout, "Resolved: took %s, %s\n", c.Resolution, c.ResolvedAt.Local().Format(time.RFC1123))
			}
			for _, side := range []struct {
				name string
				desc string
				data []byte
			}{{"LOCAL (yours)", doc.LocalSummary, c.LocalVersion}, {"REMOTE (the server's)", doc.RemoteSummary, c.RemoteVersion}} {
				fmt.Fprintf(a.stdout, "\n== %s\n%s\n", side.name, side.desc)
				if side.data != nil {
					fmt.Fprintf(a.stdout, "%s\n", strings.TrimRight(string(side.data), "\r\n"))
				}
			}
			return nil
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	var take string
	resolve := &cobra.Command{
		Use: "resolve ID --take local|remote|both", Short: "Decide a conflict: the chosen side is replayed once (files: both keeps both files)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIDOf("conflict", "conflicts ls", args[0])
			if err != nil {
				return err
			}
			if take != calsync.TakeLocal && take != calsync.TakeRemote && take != filesync.TakeBoth {
				return fmt.Errorf("--take %q: want local, remote, or (files) both", take)
			}
			dec, err := a.decider(cmd.Context())
			if err != nil {
				return err
			}
			defer dec.DB.Close()
			if err := dec.Resolve(cmd.Context(), id, take); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "conflict %d resolved: the %s version is kept\n", id, take)
			return nil
		},
	}
	resolve.Flags().StringVar(&take, "take", "", "local, remote, or both (file conflicts)")
	resolve.MarkFlagRequired("take")
	cmd.AddCommand(ls, show, resolve)
	return cmd
}

// decider opens the store with the decisions the API makes too; a
// running daemon is nudged after each so it replays at once.
func (a *app) decider(ctx context.Context) (daemon.Decider, error) {
	cfg, db, err := a.openStore(ctx)
	if err != nil {
		return daemon.Decider{}, err
	}
	return daemon.Decider{DB: db, Config: cfg, Notify: func(account, service string) {
		nctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		control.NewClient(cfg.ControlSocket()).Nudge(nctx, account, service) // best effort: no daemon is fine
	}}, nil
}
