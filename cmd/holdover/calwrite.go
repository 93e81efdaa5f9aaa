package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/holdover/holdover/endpoints/control"
	"github.com/holdover/holdover/internal/ical"
	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/calsync"
)

// calAPI opens the store with the calendar's local-change API; a running
// daemon is nudged after each commit so it replays at once.
func (a *app) calAPI(ctx context.Context) (*store.DB, *calsync.Local, error) {
	cfg, db, err := a.openStore(ctx)
	if err != nil {
		return nil, nil, err
	}
	l := &calsync.Local{DB: db, Notify: func(account, service string) {
		nctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		control.NewClient(cfg.ControlSocket()).Nudge(nctx, account, service) // best effort: no daemon is fine
	}}
	return db, l, nil
}

// inCalendar runs fn with the local-change API and the calendar named
// (within account, "" for any).
func (a *app) inCalendar(ctx context.Context, account, name string, fn func(*calsync.Local, store.Calendar) error) error {
	db, l, err := a.calAPI(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	c, err := findCalendar(ctx, db, account, name)
	if err != nil {
		return err
	}
	return fn(l, c)
}

// withEvent runs fn with the local-change API and the event ID named.
func (a *app) withEvent(ctx context.Context, arg string, fn func(l *calsync.Local, id int64) error) error {
	id, err := parseIDOf("event", "cal ls", arg)
	if err != nil {
		return err
	}
	db, l, err := a.calAPI(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	return fn(l, id)
}

// eventTimes reads --start/--end (and --all-day) into an event's times.
func eventTimes(start, end string, allDay bool) (time.Time, time.Time, error) {
	s, sDate, err := parseWhen(start)
	if err != nil {
		return s, s, fmt.Errorf("--start: %w", err)
	}
	if end == "" && (allDay || sDate) {
		return s, s.AddDate(0, 0, 1), nil
	}
	if end == "" {
		return s, s, errors.New("--end is required (or --all-day)")
	}
	e, eDate, err := parseWhen(end)
	if err != nil {
		return s, e, fmt.Errorf("--end: %w", err)
	}
	if (allDay || sDate) && eDate && !e.After(s) {
		e = e.AddDate(0, 0, 1) // --end of an all-day event names its last day
	}
	if !e.After(s) {
		return s, e, fmt.Errorf("the end (%s) is not after the start (%s)", e.Format(time.RFC3339), s.Format(time.RFC3339))
	}
	return s, e, nil
}

func (a *app) calAddCmd(account *string) *cobra.Command {
	var ev ical.Event
	var calName, start, end string
	cmd := &cobra.Command{
		Use:   "add --calendar NAME --summary S --start T --end T",
		Short: "Create an event now; it is queued for the server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ev.Summary == "" {
				return errors.New("--summary is required")
			}
			s, e, err := eventTimes(start, end, ev.AllDay)
			if err != nil {
				return err
			}
			ev.Start, ev.End = s, e
			return a.inCalendar(ctx, *account, calName, func(l *calsync.Local, c store.Calendar) error {
				id, err := l.Add(ctx, c.ID, ev)
				if err == nil {
					fmt.Fprintf(a.stdout, "created event %d in %s (queued for the server)\n", id, c.Name)
				}
				return err
			})
		},
	}
	cmd.Flags().StringVar(&calName, "calendar", "", "the calendar (its name)")
	cmd.Flags().StringVar(&ev.Summary, "summary", "", "title")
	cmd.Flags().StringVar(&start, "start", "", `start: RFC 3339, "2026-12-01 14:30" (local time) or a date with --all-day`)
	cmd.Flags().StringVar(&end, "end", "", "end (exclusive; for --all-day, the last day)")
	cmd.Flags().BoolVar(&ev.AllDay, "all-day", false, "an all-day event (dates, no times)")
	cmd.Flags().StringVar(&ev.RRule, "rrule", "", `repeat rule, e.g. "FREQ=WEEKLY;COUNT=10"`)
	cmd.Flags().StringVar(&ev.Location, "location", "", "location")
	cmd.Flags().StringVar(&ev.Description, "description", "", "description")
	cmd.MarkFlagRequired("calendar")
	return cmd
}

func (a *app) calImportCmd(account *string) *cobra.Command {
	var calName string
	cmd := &cobra.Command{
		Use:   "import --calendar NAME FILE.ics",
		Short: "Import an event from an iCalendar file (- for stdin); it is queued for the server",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var r io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			data, err := io.ReadAll(io.LimitReader(r, 16<<20))
			if err != nil {
				return err
			}
			return a.inCalendar(ctx, *account, calName, func(l *calsync.Local, c store.Calendar) error {
				id, err := l.Import(ctx, c.ID, data)
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				fmt.Fprintf(a.stdout, "imported event %d into %s (queued for the server)\n", id, c.Name)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&calName, "calendar", "", "the calendar (its name)")
	cmd.MarkFlagRequired("calendar")
	return cmd
}

func (a *app) calEditCmd() *cobra.Command {
	var summary, location, description, start, end string
	cmd := &cobra.Command{
		Use:   "edit ID [--summary S] [--start T] [--end T] [--location L]",
		Short: "Change an event now; the change is queued for the server",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var ch ical.Change
			for _, sf := range []struct {
				name string
				val  string
				dst  **string
			}{{"summary", summary, &ch.Summary}, {"location", location, &ch.Location}, {"description", description, &ch.Description}} {
				if cmd.Flags().Changed(sf.name) {
					v := sf.val
					*sf.dst = &v
				}
			}
			for _, tf := range []struct {
				name string
				val  string
				dst  **time.Time
			}{{"start", start, &ch.Start}, {"end", end, &ch.End}} {
				if !cmd.Flags().Changed(tf.name) {
					continue
				}
				t, _, err := parseWhen(tf.val)
				if err != nil {
					return fmt.Errorf("--%s: %w", tf.name, err)
				}
				*tf.dst = &t
			}
			if ch == (ical.Change{}) {
				return errors.New("nothing to change: give --summary, --start, --end, --location or --description")
			}
			if ch.Start != nil && ch.End != nil && !ch.End.After(*ch.Start) {
				return errors.New("the end is not after the start")
			}
			return a.withEvent(ctx, args[0], func(l *calsync.Local, id int64) error {
				if err := l.Edit(ctx, id, ch); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "changed event %d (queued for the server)\n", id)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&summary, "summary", "", "new title")
	cmd.Flags().StringVar(&location, "location", "", "new location")
	cmd.Flags().StringVar(&description, "description", "", "new description")
	cmd.Flags().StringVar(&start, "start", "", "new start")
	cmd.Flags().StringVar(&end, "end", "", "new end")
	return cmd
}

func (a *app) calDeleteCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "delete ID",
		Short: "Delete an event now; the deletion is queued for the server",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withEvent(cmd.Context(), args[0], func(l *calsync.Local, id int64) error {
				if err := l.Delete(cmd.Context(), id); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "deleted event %d (queued for the server)\n", id)
				return nil
			})
		},
	}
}
