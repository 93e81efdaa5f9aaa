package main

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
			rows, err := db.ListOutbox(cmd.Context(), store.OutboxFilter{Account: account, State: store.OutboxState(state)})
			if err != nil {
				return err
			}
			open, err := db.Conflicts(cmd.Context(), store.ConflictFilter{Account: account, OpenOnly: true})
			if err != nil {
				return err
			}
			waits := waitingFor(rows, open)
			if asJSON {
				out := make([]outboxJSON, 0, len(rows))
				for _, r := range rows {
					j := toOutboxJSON(r)
					j.WaitsForConflict = waits[r.ID]
					out = append(out, j)
				}
				return a.printJSON(out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACCOUNT\tKIND\tTARGET\tSTATE\tATTEMPTS\tNEXT\tCREATED\tLAST ERROR")
			for _, r := range rows {
				next := "-"
				if !r.NextAttemptAt.IsZero() && (r.State == store.OutboxFailed || r.State == store.OutboxPending) {
					next = r.NextAttemptAt.Local().Format(time.DateTime)
				}
				last := r.LastError
				if c := waits[r.ID]; c != 0 {
					last = fmt.Sprintf("waits for conflict %d (holdover conflicts resolve %d)", c, c)
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", r.ID, r.Account, r.Kind, r.TargetKey, r.State,
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
			_, db, l, err := a.localAPI(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			// A running daemon replays at once rather than at its next poll.
			defer l.Notify("", "")
			if allDead {
				n, err := db.RetryAllDead(cmd.Context())
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
			if done, err := a.viaConflict(cmd.Context(), id, calsync.TakeLocal); done || err != nil {
				return err
			}
			if err := db.RetryOutbox(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "action %d queued again\n", id)
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
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			if done, err := a.viaConflict(cmd.Context(), id, calsync.TakeRemote); done || err != nil {
				return err
			}
			if err := db.CancelOutbox(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "action %d cancelled\n", id)
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

// outboxJSON is the --json shape of an action: the payload is left out
// (it can be a whole message) and its size given instead.
type outboxJSON struct {
	ID            int64      `json:"id"`
	Account       string     `json:"account"`
	Kind          string     `json:"kind"`
	TargetKey     string     `json:"target_key"`
	State         string     `json:"state"`
	Attempts      int        `json:"attempts"`
	NextAttemptAt *time.Time `json:"next_attempt_at,omitempty"`
	LastError     string     `json:"last_error,omitempty"`
	BaseVersion   string     `json:"base_version,omitempty"`
	PayloadBytes  int        `json:"payload_bytes"`
	CreatedAt     time.Time  `json:"created_at"`
	UpdatedAt     time.Time  `json:"updated_at"`
	// WaitsForConflict is the open conflict an earlier action on the same
	// target met: this one runs once a person has decided it.
	WaitsForConflict int64 `json:"waits_for_conflict,omitempty"`
}

// waitingFor maps each unfinished action queued behind an open conflict
// on its key (a later action on the same target) to that conflict.
func waitingFor(rows []store.OutboxRow, open []store.Conflict) map[int64]int64 {
	out := map[int64]int64{}
	for _, r := range rows {
		if r.State != store.OutboxPending && r.State != store.OutboxFailed {
			continue
		}
		for _, c := range open {
			if c.OutboxID != 0 && c.OutboxID < r.ID && c.Account == r.Account && c.TargetKey == r.TargetKey {
				out[r.ID] = c.ID
				break
			}
		}
	}
	return out
}

func toOutboxJSON(r store.OutboxRow) outboxJSON {
	o := outboxJSON{ID: r.ID, Account: r.Account, Kind: r.Kind, TargetKey: r.TargetKey, State: string(r.State),
		Attempts: r.Attempts, LastError: r.LastError, BaseVersion: r.BaseVersion, PayloadBytes: len(r.Payload),
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
	if !r.NextAttemptAt.IsZero() {
		t := r.NextAttemptAt
		o.NextAttemptAt = &t
	}
	return o
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
				if os == nil {
					os = []store.Outage{}
				}
				return a.printJSON(os)
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

// viaConflict decides an action's open calendar conflict when the user
// retries (takes the local side) or cancels (the remote side) it in the
// outbox: the calendar's version must be put back, not just the row.
func (a *app) viaConflict(ctx context.Context, outboxID int64, take string) (bool, error) {
	db, l, err := a.calAPI(ctx)
	if err != nil {
		return false, err
	}
	defer db.Close()
	c, ok, err := db.OpenConflictOfOutbox(ctx, outboxID)
	if err != nil || !ok || c.Kind != "calendar" {
		return false, err
	}
	if err := a.resolveConflict(ctx, db, l, c, take); err != nil {
		return true, err
	}
	fmt.Fprintf(a.stdout, "action %d: conflict %d resolved, the %s version is kept\n", outboxID, c.ID, take)
	return true, nil
}
