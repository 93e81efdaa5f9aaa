package daemon

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/holdover/holdover/store"
)

// An open outage has no stored counts until it ends; the status and the
// outage list show what has been queued in it so far.
func TestAnOpenOutageShowsWhatIsQueuedInItSoFar(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, filepath.Join(t.TempDir(), "holdover.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.EnsureAccounts(ctx, []string{"work"}); err != nil {
		t.Fatal(err)
	}
	err = db.Write(ctx, func(tx *store.Tx) error {
		if err := tx.SetHealth(ctx, "work", "imap", store.HealthDown, 3, "transient: connection refused"); err != nil {
			return err
		}
		if _, err := tx.OpenOutage(ctx, "work", "imap", "transient: connection refused"); err != nil {
			return err
		}
		for _, a := range []store.OutboxAction{
			{Account: "work", Kind: "mail.flags", TargetKey: "msg:1", Payload: []byte("{}")},
			{Account: "work", Kind: "mail.move", TargetKey: "msg:2", Payload: []byte("{}")},
			{Account: "work", Kind: "file.put", TargetKey: "file:a.txt", Payload: []byte("{}")}, // another service
		} {
			if _, err := tx.EnqueueOutbox(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := CollectStatus(ctx, nil, db)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Accounts) != 1 || len(st.Accounts[0].Services) != 1 || st.Accounts[0].Services[0].Outage == nil {
		t.Fatalf("status = %+v, want work's imap in an outage", st)
	}
	if o := st.Accounts[0].Services[0].Outage; o.Queued != 2 || o.Replayed != 0 {
		t.Errorf("status: the open outage has %d queued, %d replayed; want 2, 0", o.Queued, o.Replayed)
	}
	outages, err := ListOutages(ctx, db, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(outages) != 1 || outages[0].Queued != 2 || outages[0].EndedAt != nil {
		t.Errorf("outages = %+v, want the open one with 2 queued", outages)
	}
}
