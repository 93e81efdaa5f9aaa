package demo

import (
	"context"
	"fmt"
	"github.com/holdover/holdover/endpoints/httpapi/apiv1"
	"text/tabwriter"
	"time"

	"github.com/holdover/holdover/daemon"
	"github.com/holdover/holdover/store"
)

func (d *demo) count(ctx context.Context) int {
	msgs, err := d.db.ListMailMessages(ctx, store.MailFilter{})
	if err != nil {
		return -1
	}
	return len(msgs)
}

func (d *demo) showFolders(ctx context.Context) {
	fs, _ := d.db.MailFolderSummaries(ctx, "")
	tw := tabwriter.NewWriter(d.opts.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  FOLDER\tMESSAGES\tUNREAD")
	for _, f := range fs {
		fmt.Fprintf(tw, "  %s\t%d\t%d\n", f.Name, f.Count, f.Unread)
	}
	tw.Flush()
}

func (d *demo) showSearch(ctx context.Context, words string) {
	q, _ := store.MailSearchQuery(words)
	hits, _ := d.db.SearchMail(ctx, "", q, 3)
	d.say("  holdover mail search %s  →  %d hits, e.g. %q from %s", words, len(hits), hits[0].Subject, hits[0].From)
}

func (d *demo) showStatus(ctx context.Context) {
	d.say("holdover status:")
	st, err := daemon.CollectStatus(ctx, nil, d.db)
	if err != nil {
		return
	}
	for _, a := range st.Accounts {
		for _, s := range a.Services {
			line := fmt.Sprintf("  %-6s %s", s.Service, s.State)
			if s.Outage != nil {
				line += fmt.Sprintf(", outage since %s", s.Outage.StartedAt.Local().Format(time.TimeOnly))
			}
			d.say("%s", line)
		}
		// What the queue means, not its stored states: nothing failed,
		// the actions wait for their providers.
		d.say("  outbox: %s", apiv1.QueueWords(a.Queue))
	}
}

func (d *demo) outageOpen(ctx context.Context) bool {
	os, err := d.db.Outages(ctx, 0)
	if err != nil {
		return false
	}
	open := 0
	for _, o := range os {
		if o.Open() {
			open++
		}
	}
	return open == 4
}

func (d *demo) drained(ctx context.Context) bool {
	counts, err := d.db.OutboxCounts(ctx)
	if err != nil {
		return false
	}
	c := counts["demo"]
	return c[store.OutboxPending]+c[store.OutboxInflight]+c[store.OutboxFailed] == 0 && c[store.OutboxDone] >= 5
}

func (d *demo) showOutages(ctx context.Context) {
	os, _ := d.db.Outages(ctx, 0)
	d.say("holdover outages:")
	for _, o := range os {
		d.say("  %-6s down %s, %d actions queued, %d replayed", o.Service, o.EndedAt.Sub(o.StartedAt).Round(100*time.Millisecond), o.Queued, o.Replayed)
	}
}

func (d *demo) countEvents(ctx context.Context) int {
	objs, err := d.db.CalObjectsInRange(ctx, store.CalRange{From: time.Now().AddDate(0, 0, -1), To: time.Now().AddDate(0, 0, 30)})
	if err != nil {
		return -1
	}
	return len(objs)
}

func (d *demo) showEvents(ctx context.Context) {
	objs, _ := d.db.CalObjectsInRange(ctx, store.CalRange{From: time.Now().AddDate(0, 0, -1), To: time.Now().AddDate(0, 0, 30)})
	tw := tabwriter.NewWriter(d.opts.Out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  CALENDAR\tWHEN\tEVENT")
	for _, o := range objs {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", o.Calendar, o.Start.Local().Format("Mon 15:04"), o.Summary)
	}
	tw.Flush()
}
