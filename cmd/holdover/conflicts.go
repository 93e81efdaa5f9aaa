package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

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
			cs, err := db.Conflicts(cmd.Context(), store.ConflictFilter{Account: account, OpenOnly: !all})
			if err != nil {
				return err
			}
			if asJSON {
				out := []conflictJSON{}
				for _, c := range cs {
					out = append(out, toConflictJSON(c))
				}
				return a.printJSON(out)
			}
			if len(cs) == 0 {
				fmt.Fprintln(a.stdout, "no conflicts")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tACCOUNT\tKIND\tWHAT\tSINCE\tSTATE")
			for _, c := range cs {
				state := "open: holdover conflicts resolve " + fmt.Sprint(c.ID) + " --take local|remote"
				if !c.Open() {
					state = "resolved (" + c.Resolution + ", " + c.Policy + ")"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", c.ID, c.Account, c.Kind, what(c), c.CreatedAt.Local().Format("2006-01-02 15:04"), state)
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
			if showJSON {
				return a.printJSON(toConflictJSON(c))
			}
			fmt.Fprintf(a.stdout, "Conflict %d (%s, account %s), %s, policy %s\n", c.ID, c.Kind, c.Account, c.CreatedAt.Local().Format(time.RFC1123), c.Policy)
			if !c.Open() {
				fmt.Fprintf(a.stdout, "Resolved: took %s, %s\n", c.Resolution, c.ResolvedAt.Local().Format(time.RFC1123))
			}
			for _, side := range []struct {
				name string
				meta string
				data []byte
			}{{"LOCAL (yours)", c.LocalMeta, c.LocalVersion}, {"REMOTE (the server's)", c.RemoteMeta, c.RemoteVersion}} {
				fmt.Fprintf(a.stdout, "\n== %s\n%s\n", side.name, describe(side.meta))
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
			db, l, err := a.calAPI(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			c, err := db.ConflictByID(cmd.Context(), id)
			if err != nil {
				return err
			}
			if err := a.resolveConflict(cmd.Context(), db, l, c, take); err != nil {
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

// resolveConflict applies a decision: calendar conflicts through the
// calendar's local-change API, a send's through its outbox action (send
// again, or accept that the server has it).
func (a *app) resolveConflict(ctx context.Context, db *store.DB, l *calsync.Local, c store.Conflict, take string) error {
	if !c.Open() {
		return fmt.Errorf("conflict %d was resolved already (took %s)", c.ID, c.Resolution)
	}
	if take == filesync.TakeBoth && c.Kind != "file" {
		return fmt.Errorf("conflict %d: --take both is for file conflicts (both files are kept); this is a %s conflict", c.ID, c.Kind)
	}
	switch c.Kind {
	case "calendar":
		return l.Resolve(ctx, c.ID, take)
	case "file":
		folder, err := a.localFolder(c.Account)
		if err != nil {
			return err
		}
		if err := filesync.ResolveConflict(ctx, db, folder, c, take); err != nil {
			return err
		}
		l.Notify(c.Account, "webdav")
		return nil
	case "mail":
		if c.OutboxID == 0 {
			return fmt.Errorf("conflict %d has no action left to decide on", c.ID)
		}
		var err error
		if take == calsync.TakeLocal {
			err = db.RetryOutbox(ctx, c.OutboxID)
		} else {
			err = db.CancelOutbox(ctx, c.OutboxID)
		}
		if err == nil {
			l.Notify(c.Account, "")
		}
		return err
	}
	return fmt.Errorf("conflict %d: %s conflicts cannot be resolved by this version", c.ID, c.Kind)
}

type conflictJSON struct {
	ID         int64           `json:"id"`
	Account    string          `json:"account"`
	Kind       string          `json:"kind"`
	Target     string          `json:"target"`
	OutboxID   int64           `json:"outbox_id,omitempty"`
	Policy     string          `json:"policy"`
	Resolution string          `json:"resolution,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	ResolvedAt *time.Time      `json:"resolved_at,omitempty"`
	Local      json.RawMessage `json:"local,omitempty"`
	Remote     json.RawMessage `json:"remote,omitempty"`
}

func toConflictJSON(c store.Conflict) conflictJSON {
	j := conflictJSON{ID: c.ID, Account: c.Account, Kind: c.Kind, Target: c.TargetKey, OutboxID: c.OutboxID,
		Policy: c.Policy, Resolution: c.Resolution, CreatedAt: c.CreatedAt}
	if !c.Open() {
		j.ResolvedAt = &c.ResolvedAt
	}
	if json.Valid([]byte(c.LocalMeta)) {
		j.Local = json.RawMessage(c.LocalMeta)
	}
	if json.Valid([]byte(c.RemoteMeta)) {
		j.Remote = json.RawMessage(c.RemoteMeta)
	}
	return j
}

// what summarises a conflict in one line.
func what(c store.Conflict) string {
	var m map[string]any
	json.Unmarshal([]byte(c.LocalMeta), &m)
	switch c.Kind {
	case "calendar":
		if s, _ := m["summary"].(string); s != "" {
			return fmt.Sprintf("%q", s)
		}
		if d, _ := m["deleted"].(bool); d {
			return "deleted here, changed on the server"
		}
	case "file":
		if p, _ := m["path"].(string); p != "" {
			return "changed on both sides; your version is " + p
		}
	case "mail":
		if id, _ := m["message_id"].(string); id != "" {
			return "send of <" + id + "> may have gone already"
		}
	}
	return c.TargetKey
}

// describe prints one side's summary.
func describe(meta string) string {
	var m calsync.ConflictMeta
	if json.Unmarshal([]byte(meta), &m) != nil || (m.Href == "" && !m.Deleted) {
		return meta
	}
	if m.Deleted {
		return "deleted"
	}
	return fmt.Sprintf("%q %s – %s (ETag %s)", m.Summary, m.Start.Local().Format("2006-01-02 15:04"), m.End.Local().Format("15:04"), m.ETag)
}
