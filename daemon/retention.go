package daemon

import (
	"context"
	"os"
	"path/filepath"
	"strings"
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
		d.sweepSpool()
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

// spoolOrphanAge is when a file in the spool is an orphan: a submission,
// an APPEND or a sync batch holds its spool file for seconds to minutes,
// from the network to its commit; one a day old was left by a process
// that died in between (its message was never acknowledged, so nothing
// is lost with it).
const spoolOrphanAge = 24 * time.Hour

// sweepSpool removes the orphans of <data_dir>/spool (see
// spoolOrphanAge). Only holdover's own temporary files are touched, and
// a file still written to is never one of them (its time moves).
func (d *Daemon) sweepSpool() {
	dir := filepath.Join(d.Config().DataDir, "spool")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	n := 0
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), "holdover-") {
			continue
		}
		info, err := e.Info()
		if err != nil || time.Since(info.ModTime()) < spoolOrphanAge {
			continue
		}
		if os.Remove(filepath.Join(dir, e.Name())) == nil {
			n++
		}
	}
	if n > 0 {
		d.log.Info("spool: removed files left by an interrupted process", "files", n, "older_than", spoolOrphanAge.String())
	}
}
