package daemon

import (
	"context"
	"time"
)

// retentionEvery is how often finished outbox actions are pruned after
// the pruning at start-up: a day's worth of sends goes in one round of
// short transactions, so once an hour is plenty.
const retentionEvery = time.Hour

// runRetention prunes done and cancelled outbox actions older than
// outbox.keep_done (read at each round, so a reload applies) at start
// and then every retentionEvery, until ctx ends. Each batch is its own
// short transaction (store.PruneOutbox), so local changes never wait
// for a round; a failed round is logged and tried again next time.
func (d *Daemon) runRetention(ctx context.Context) error {
	every := d.opts.RetentionEvery
	if every == 0 {
		every = retentionEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		d.pruneOutbox(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (d *Daemon) pruneOutbox(ctx context.Context) {
	keep := d.Config().Outbox.KeepDone
	if keep <= 0 {
		return
	}
	start := time.Now()
	got, err := d.db.PruneOutbox(ctx, keep)
	if err != nil && ctx.Err() == nil {
		d.log.Warn("outbox retention: pruning stopped", "err", err, "rows", got.Rows, "bytes", got.Bytes)
		return
	}
	if got.Rows > 0 {
		d.log.Info("outbox retention: pruned finished actions", "rows", got.Rows, "bytes", got.Bytes,
			"keep_done", keep.String(), "took", time.Since(start).Round(time.Millisecond).String())
	}
}
