package main

import (
	"context"
	"encoding/json"
	"fmt"
	"text/tabwriter"

	"github.com/holdover/holdover/store"
	"github.com/holdover/holdover/sync/outbox"
)

// listSendQueue prints the messages not sent yet, as mailq does: one
// entry per message with its outbox ID, size, arrival time, sender and
// recipients, and why it waits. "*" marks the one being sent (Postfix's
// active queue), "!" one that waits for the user (a conflict, or dead:
// refused for good; see holdover outbox retry/cancel).
func (a *app) listSendQueue(ctx context.Context) error {
	cfg, err := a.loadConfigLenient()
	if err != nil {
		return configError{err}
	}
	db, err := openDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.ListOutbox(ctx, store.OutboxFilter{})
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
	var n int
	var bytes int64
	for _, r := range rows {
		if r.Kind != outbox.KindSend || r.State == store.OutboxDone || r.State == store.OutboxCancelled {
			continue
		}
		var p outbox.SendPayload
		if err := json.Unmarshal(r.Payload, &p); err != nil {
			return fmt.Errorf("outbox action %d: unreadable payload: %w", r.ID, err)
		}
		if n == 0 {
			fmt.Fprintln(tw, "-Queue ID-\t--Size--\t----Arrival Time----\t-Sender/Recipient-------")
		}
		n++
		bytes += p.Size
		mark := ""
		switch r.State {
		case store.OutboxInflight:
			mark = "*"
		case store.OutboxConflict, store.OutboxDead:
			mark = "!"
		}
		fmt.Fprintf(tw, "%d%s\t%8d\t%s\t%s (account %s)\n", r.ID, mark, p.Size, r.CreatedAt.Local().Format("Mon Jan _2 15:04:05"), p.Envelope.From, r.Account)
		if r.LastError != "" {
			fmt.Fprintf(tw, "\t\t\t(%s: %s)\n", r.State, r.LastError)
		}
		for _, to := range p.Envelope.To {
			fmt.Fprintf(tw, "\t\t\t%s\n", to)
		}
	}
	if n == 0 {
		fmt.Fprintln(a.stdout, "Mail queue is empty")
		return nil
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "-- %d Kbytes in %d Request%s.\n", (bytes+1023)/1024, n, plural(n))
	return nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
