package main

import (
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

func (a *app) outboxCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "outbox", Short: "List, retry or cancel queued outbound actions"}
	var state, account string
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List outbox actions in creation order",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if state != "" && !store.OutboxState(state).Valid() {
				return fmt.Errorf("--state %q: want one of %v", state, store.OutboxStates)
			}
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			rows, err := daemon.ListActions(cmd.Context(), db, apiv1.ActionFilter{Account: account, State: store.OutboxState(state)})
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(rows)
			}
			// STATE is what the action's state means for a person: a
			// failed action whose provider is down is waiting, nothing
			// more (--json and --state keep the stored names).
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACCOUNT\tKIND\tTARGET\tSTATE\tATTEMPTS\tNEXT\tCREATED\tLAST ERROR")
			for _, r := range rows {
				next := "-"
				if r.NextAttemptAt != nil && (r.State == string(store.OutboxFailed) || r.State == string(store.OutboxPending)) {
					next = r.NextAttemptAt.Local().Format(time.DateTime)
				}
				last := r.LastError
				if c := r.WaitsForConflict; c != 0 {
					last = fmt.Sprintf("waits for conflict %d (holdover conflicts resolve %d)", c, c)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Account, r.Kind, r.TargetKey, r.Words,
					r.Attempts, next, r.CreatedAt.Local().Format(time.DateTime), last)
			}
			return tw.Flush()
		},
	}
	ls.Flags().StringVar(&state, "state", "", "only actions in this state")
	ls.Flags().StringVar(&account, "account", "", "only this account's actions")
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var allDead bool
	retry := &cobra.Command{
		Use:   "retry ID | --all-dead",
		Short: "Send a failed, conflicting or dead action back to the queue",
		RunE: func(cmd *cobra.Command, args []string) error {
			if allDead == (len(args) == 1) || len(args) > 1 {
				return fmt.Errorf("give one action ID or --all-dead")
			}
			dec, err := a.decider(cmd.Context())
			if err != nil {
				return err
			}
			defer dec.DB.Close()
			if allDead {
				// A running daemon replays at once rather than at its next poll.
				defer dec.Notify("", "")
				n, err := dec.DB.RetryAllDead(cmd.Context())
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%d dead actions queued again\n", n)
				return nil
			}
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			c, err := dec.Retry(cmd.Context(), id)
			if err != nil {
				return err
			}
			a.printDecided(id, c, "queued again")
			return nil
		},
	}
	retry.Flags().BoolVar(&allDead, "all-dead", false, "retry every dead action")

	cancel := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel an action that has not been sent (its payload is kept)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			dec, err := a.decider(cmd.Context())
			if err != nil {
				return err
			}
			defer dec.DB.Close()
			c, err := dec.Cancel(cmd.Context(), id)
			if err != nil {
				return err
			}
			a.printDecided(id, c, "cancelled")
			return nil
		},
	}
	cmd.AddCommand(ls, retry, cancel)
	return cmd
}

func parseID(s string) (int64, error) { return parseIDOf("action", "outbox ls", s) }

// parseIDOf reads the ID of a thing the user named, with an error that
// says where the IDs are listed.
func parseIDOf(what, listing, s string) (int64, error) {
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%s ID %q: want a positive number (see holdover %s)", what, s, listing)
	}
	return id, nil
}

// outboxJSON is the --json shape of an action (the API's).
type outboxJSON = apiv1.Action

// printDecided reports a retry or cancel; c is the calendar conflict it
// decided, if any.
func (a *app) printDecided(id int64, c *store.Conflict, done string) {
	if c == nil {
		fmt.Fprintf(a.stdout, "action %d %s\n", id, done)
		return
	}
	take := calsync.TakeLocal
	if done == "cancelled" {
		take = calsync.TakeRemote
	}
	fmt.Fprintf(a.stdout, "action %d: conflict %d resolved, the %s version is kept\n", id, c.ID, take)
}

func (a *app) outagesCmd() *cobra.Command {
	var asJSON bool
	var limit int
	cmd := &cobra.Command{
		Use:   "outages",
		Short: "List provider outages, newest first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			os, err := db.Outages(cmd.Context(), limit)
			if err != nil {
				return err
			}
			if asJSON {
				docs, err := daemon.ListOutages(cmd.Context(), db, limit)
				if err != nil {
					return err
				}
				return a.printJSON(docs)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCOUNT\tSERVICE\tSTARTED\tENDED\tDURATION\tQUEUED\tREPLAYED\tCAUSE")
			for _, o := range os {
				ended, dur := "ongoing", time.Since(o.StartedAt)
				if !o.Open() {
					ended, dur = o.EndedAt.Local().Format(time.DateTime), o.EndedAt.Sub(o.StartedAt)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\n", o.Account, o.Service, o.StartedAt.Local().Format(time.DateTime),
					ended, dur.Round(time.Second), o.Queued, o.Replayed, o.Cause)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().IntVar(&limit, "limit", 50, "show at most this many (0: all)")
	return cmd
}
