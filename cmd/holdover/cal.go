package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
)

// calCmd: every subcommand works on the local store only, so it works with
// the provider down and the daemon stopped; changes are queued.
func (a *app) calCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "cal", Short: "Read and change the local calendar mirror (works offline)"}
	var account string
	cmd.PersistentFlags().StringVar(&account, "account", "", "only this account")
	cmd.AddCommand(a.calCalendarsCmd(&account), a.calLsCmd(&account), a.calShowCmd(),
		a.calAddCmd(&account), a.calImportCmd(&account), a.calEditCmd(), a.calDeleteCmd())
	return cmd
}

func (a *app) calCalendarsCmd(account *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use: "calendars", Short: "List mirrored calendars", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			cals, err := db.Calendars(cmd.Context(), *account)
			if err != nil {
				return err
			}
			type calJSON struct {
				ID         int64      `json:"id"`
				Account    string     `json:"account"`
				Name       string     `json:"name"`
				Href       string     `json:"href"`
				Color      string     `json:"color,omitempty"`
				Components []string   `json:"components,omitempty"`
				SyncedAt   *time.Time `json:"synced_at,omitempty"`
			}
			if asJSON {
				out := []calJSON{}
				for _, c := range cals {
					j := calJSON{ID: c.ID, Account: c.Account, Name: c.Name, Href: c.Href, Color: c.Color, Components: c.Components}
					if !c.SyncedAt.IsZero() {
						j.SyncedAt = &c.SyncedAt
					}
					out = append(out, j)
				}
				return a.printJSON(out)
			}
			if len(cals) == 0 {
				fmt.Fprintln(a.stdout, "no calendars mirrored yet (is calendar configured? run holdover sync --once)")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ACCOUNT\tCALENDAR\tHREF\tSYNCED")
			for _, c := range cals {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Account, c.Name, c.Href, when(c.SyncedAt))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.Local().Format("2006-01-02 15:04")
}

// occurrenceJSON is the --json shape of a listed occurrence.
type occurrenceJSON struct {
	ID        int64     `json:"id"`
	Account   string    `json:"account"`
	Calendar  string    `json:"calendar"`
	UID       string    `json:"uid"`
	Summary   string    `json:"summary"`
	Location  string    `json:"location,omitempty"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	AllDay    bool      `json:"all_day"`
	Recurring bool      `json:"recurring"`
	Pending   string    `json:"pending,omitempty"` // a queued local change: created, modified
	Warnings  []string  `json:"warnings,omitempty"`
}

func (a *app) calLsCmd(account *string) *cobra.Command {
	var calName, from, to string
	var asJSON bool
	cmd := &cobra.Command{
		Use: "ls", Short: "List events (recurrences expanded); default: today and the next 14 days", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			start, end, err := window(from, to, time.Now())
			if err != nil {
				return err
			}
			_, db, err := a.openStore(ctx)
			if err != nil {
				return err
			}
			defer db.Close()
			r := store.CalRange{Account: *account, From: start, To: end}
			if calName != "" {
				c, err := findCalendar(ctx, db, *account, calName)
				if err != nil {
					return err
				}
				r.CalendarID = c.ID
			}
			occ, err := occurrences(ctx, db, r)
			if err != nil {
				return err
			}
			if asJSON {
				return a.printJSON(occ)
			}
			printOccurrences(a.stdout, occ)
			return nil
		},
	}
	cmd.Flags().StringVar(&calName, "calendar", "", "only this calendar (its name)")
	cmd.Flags().StringVar(&from, "from", "", "first day (YYYY-MM-DD or RFC 3339; default today)")
	cmd.Flags().StringVar(&to, "to", "", "end, exclusive (default 14 days after --from)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// window parses --from/--to in the local zone.
func window(from, to string, now time.Time) (time.Time, time.Time, error) {
	y, m, d := now.Date()
	start := time.Date(y, m, d, 0, 0, 0, 0, localZone())
	if from != "" {
		t, _, err := parseWhen(from)
		if err != nil {
			return start, start, fmt.Errorf("--from: %w", err)
		}
		start = t
	}
	end := start.AddDate(0, 0, 14)
	if to != "" {
		t, _, err := parseWhen(to)
		if err != nil {
			return start, end, fmt.Errorf("--to: %w", err)
		}
		end = t
	}
	if !end.After(start) {
		return start, end, fmt.Errorf("--to (%s) is not after --from (%s)", end.Format(time.RFC3339), start.Format(time.RFC3339))
	}
	return start, end, nil
}

// parseWhen reads a date or time given by a person: RFC 3339,
// "2006-01-02 15:04" or "2006-01-02T15:04" in the local zone, or a date
// ("2006-01-02", dateOnly true) at local midnight.
func parseWhen(s string) (t time.Time, dateOnly bool, err error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, false, nil
	}
	for _, layout := range []string{"2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, localZone()); err == nil {
			return t, false, nil
		}
	}
	if t, err := time.ParseInLocation("2006-01-02", s, localZone()); err == nil {
		return t, true, nil
	}
	return time.Time{}, false, fmt.Errorf("%q is not a date or time (write 2026-12-01, \"2026-12-01 14:30\" or RFC 3339)", s)
}

// findCalendar finds a calendar by name (or the last segment of its
// href) within an account ("" for any).
func findCalendar(ctx context.Context, db *store.DB, account, name string) (store.Calendar, error) {
	cals, err := db.Calendars(ctx, account)
	if err != nil {
		return store.Calendar{}, err
	}
	var found []store.Calendar
	for _, c := range cals {
		if strings.EqualFold(c.Name, name) || strings.EqualFold(strings.Trim(c.Href[strings.LastIndex(strings.TrimSuffix(c.Href, "/"), "/")+1:], "/"), name) {
			found = append(found, c)
		}
	}
	switch len(found) {
	case 0:
		var names []string
		for _, c := range cals {
			names = append(names, c.Account+"/"+c.Name)
		}
		return store.Calendar{}, fmt.Errorf("no calendar %q (there are: %s)", name, strings.Join(names, ", "))
	case 1:
		return found[0], nil
	}
	return store.Calendar{}, fmt.Errorf("calendar %q is ambiguous: give --account", name)
}

// occurrences expands the objects of a range into sorted occurrences.
func occurrences(ctx context.Context, db *store.DB, r store.CalRange) ([]occurrenceJSON, error) {
	// All-day and floating times are stored as their wall clock in UTC:
	// widen the query by the largest zone offsets; Expand is exact.
	wide := r
	wide.From, wide.To = r.From.Add(-14*time.Hour), r.To.Add(14*time.Hour)
	objs, err := db.CalObjectsInRange(ctx, wide)
	if err != nil {
		return nil, err
	}
	out := []occurrenceJSON{}
	for _, o := range objs {
		base := occurrenceJSON{ID: o.ID, Account: o.Account, Calendar: o.Calendar, UID: o.UID, Summary: o.Summary,
			Recurring: o.Recurring, Pending: o.LocalState, Warnings: o.Warnings}
		if o.Bad {
			// Listed, so it is not silently lost; its time is unknown.
			base.Start, base.End = r.From, r.From
			base.Warnings = append([]string{"cannot be read; stored as received"}, base.Warnings...)
			out = append(out, base)
			continue
		}
		occ, warns, err := ical.Expand(o.Data, r.From, r.To, localZone())
		for _, w := range warns {
			if !slices.Contains(base.Warnings, w) {
				base.Warnings = append(base.Warnings, w)
			}
		}
		if err != nil {
			base.Start, base.End = o.Start, o.End
			base.Warnings = append(base.Warnings, err.Error())
			out = append(out, base)
			continue
		}
		for _, oc := range occ {
			j := base
			j.Start, j.End, j.AllDay = oc.Start, oc.End, oc.AllDay
			if oc.Summary != "" {
				j.Summary = oc.Summary
			}
			j.Location = oc.Location
			out = append(out, j)
		}
	}
	slices.SortStableFunc(out, func(x, y occurrenceJSON) int { return x.Start.Compare(y.Start) })
	return out, nil
}

func printOccurrences(w io.Writer, occ []occurrenceJSON) {
	if len(occ) == 0 {
		fmt.Fprintln(w, "no events")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "WHEN\tSUMMARY\tCALENDAR\tID")
	for _, o := range occ {
		at := o.Start.Local().Format("Mon 2006-01-02 15:04") + "–" + o.End.Local().Format("15:04")
		if o.AllDay {
			at = o.Start.Format("Mon 2006-01-02") + " (all day)"
		}
		note := ""
		if o.Recurring {
			note += " ↻"
		}
		if o.Pending != "" {
			note += " (" + o.Pending + ", queued)"
		}
		if len(o.Warnings) > 0 {
			note += " ⚠ " + strings.Join(o.Warnings, "; ")
		}
		fmt.Fprintf(tw, "%s\t%s%s\t%s\t%d\n", at, o.Summary, note, o.Calendar, o.ID)
	}
	tw.Flush()
}

func (a *app) calShowCmd() *cobra.Command {
	var raw bool
	cmd := &cobra.Command{
		Use: "show ID [--ics]", Short: "Show an event (--ics: its iCalendar data as stored)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseIDOf("event", "cal ls", args[0])
			if err != nil {
				return err
			}
			_, db, err := a.openStore(cmd.Context())
			if err != nil {
				return err
			}
			defer db.Close()
			o, err := db.CalObjectByID(cmd.Context(), id)
			if err != nil {
				return err
			}
			if raw {
				_, err := a.stdout.Write(o.Data)
				return err
			}
			fmt.Fprintf(a.stdout, "Summary:  %s\nCalendar: %s (%s)\nUID:      %s\n", o.Summary, o.Calendar, o.Account, o.UID)
			if !o.Start.IsZero() {
				fmt.Fprintf(a.stdout, "Start:    %s\nEnd:      %s\n", o.Start.Local().Format(time.RFC1123), o.End.Local().Format(time.RFC1123))
			}
			if o.Recurring {
				last := "never"
				if !o.Unbounded {
					last = o.LastEnd.Local().Format(time.RFC1123)
				}
				fmt.Fprintf(a.stdout, "Repeats:  until %s\n", last)
			}
			fmt.Fprintf(a.stdout, "Href:     %s\nETag:     %s\n", o.Href, o.ETag)
			if o.LocalState != "" {
				fmt.Fprintf(a.stdout, "Queued:   %s (waiting for the server)\n", o.LocalState)
			}
			for _, w := range o.Warnings {
				fmt.Fprintf(a.stdout, "Warning:  %s\n", w)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&raw, "ics", false, "print the iCalendar data")
	return cmd
}

// localZone is the local time zone under its IANA name (from $TZ or the
// /etc/localtime link), so an event created here keeps following its
// zone's DST; time.Local when the name cannot be found.
var localZone = sync.OnceValue(func() *time.Location {
	name := os.Getenv("TZ")
	if name == "" {
		if target, err := os.Readlink("/etc/localtime"); err == nil {
			if i := strings.Index(target, "zoneinfo/"); i >= 0 {
				name = target[i+len("zoneinfo/"):]
			}
		}
	}
	if name != "" {
		if loc, err := time.LoadLocation(strings.TrimPrefix(name, ":")); err == nil {
			return loc
		}
	}
	return time.Local
})
