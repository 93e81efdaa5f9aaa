package daemon

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdover/holdover/store"
)

// storeCollector reads the figures the store keeps at each scrape: they
// survive restarts and count what the CLI queued too. Labels come only
// from bounded sets (account, service, state): never a path, subject or
// Message-ID.
type storeCollector struct {
	db  *store.DB
	log *slog.Logger

	up, outbox, oldest, replayed, pruned, prunedBytes, conflicts, outages, outageSeconds *prometheus.Desc
}

func newStoreCollector(db *store.DB, log *slog.Logger) *storeCollector {
	as := []string{"account", "service"}
	return &storeCollector{db: db, log: log,
		up:            prometheus.NewDesc("holdover_service_up", "Whether a provider service answers (1), or is down (0).", as, nil),
		outbox:        prometheus.NewDesc("holdover_outbox_actions", "Outbox actions by stored state (done and cancelled included).", []string{"account", "service", "state"}, nil),
		oldest:        prometheus.NewDesc("holdover_outbox_oldest_waiting_timestamp_seconds", "When the oldest action still to replay (pending, inflight, failed) was queued.", as, nil),
		replayed:      prometheus.NewDesc("holdover_outbox_replayed_total", "Actions replayed to the provider (done), those pruned since included.", as, nil),
		pruned:        prometheus.NewDesc("holdover_outbox_pruned_total", "Finished outbox actions (done, cancelled) deleted by retention (outbox.keep_done).", as, nil),
		prunedBytes:   prometheus.NewDesc("holdover_outbox_pruned_bytes_total", "Payload and message body bytes deleted by outbox retention.", as, nil),
		conflicts:     prometheus.NewDesc("holdover_conflicts_open", "Conflicts waiting for a person's decision.", as, nil),
		outages:       prometheus.NewDesc("holdover_outages_total", "Provider outages recorded (the open one included).", as, nil),
		outageSeconds: prometheus.NewDesc("holdover_outage_seconds_total", "Time spent in outages, the open one up to now.", as, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.up, c.outbox, c.oldest, c.replayed, c.pruned, c.prunedBytes, c.conflicts, c.outages, c.outageSeconds} {
		ch <- d
	}
}

// Collect implements prometheus.Collector. A store that does not answer
// within the scrape leaves these series out (logged), never blocks it.
func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.collect(ctx, ch); err != nil {
		c.log.Warn("metrics: cannot read the store", "err", err)
	}
}

func (c *storeCollector) collect(ctx context.Context, ch chan<- prometheus.Metric) error {
	health, err := c.db.HealthRows(ctx)
	if err != nil {
		return err
	}
	for _, h := range health {
		if h.State == store.HealthUnknown {
			continue
		}
		up := 1.0
		if h.State == store.HealthDown {
			up = 0
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, h.Account, h.Service)
	}

	counts, err := c.db.OutboxCountsByKind(ctx)
	if err != nil {
		return err
	}
	byState := map[[3]string]int{}
	done := map[[2]string]int{}
	for _, n := range counts {
		svc := serviceOf(n.Kind)
		byState[[3]string{n.Account, svc, string(n.State)}] += n.N
		if n.State == store.OutboxDone {
			done[[2]string{n.Account, svc}] += n.N
		}
	}
	// Pruned actions stay counted, so the replayed counter never goes
	// backwards when retention deletes done rows.
	pruned, err := c.db.OutboxPrunedCounts(ctx)
	if err != nil {
		return err
	}
	prunedRows := map[[2]string]int64{}
	prunedBytes := map[[2]string]int64{}
	for _, p := range pruned {
		k := [2]string{p.Account, serviceOf(p.Kind)}
		prunedRows[k] += p.Rows
		prunedBytes[k] += p.Bytes
		if p.State == store.OutboxDone {
			done[k] += int(p.Rows)
		}
	}
	for k, n := range prunedRows {
		ch <- prometheus.MustNewConstMetric(c.pruned, prometheus.CounterValue, float64(n), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(c.prunedBytes, prometheus.CounterValue, float64(prunedBytes[k]), k[0], k[1])
	}
	for k, n := range byState {
		ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(n), k[0], k[1], k[2])
	}
	for k, n := range done {
		ch <- prometheus.MustNewConstMetric(c.replayed, prometheus.CounterValue, float64(n), k[0], k[1])
	}

	oldest, err := c.db.OldestWaiting(ctx)
	if err != nil {
		return err
	}
	first := map[[2]string]time.Time{}
	for _, o := range oldest {
		k := [2]string{o.Account, serviceOf(o.Kind)}
		if t, ok := first[k]; !ok || o.CreatedAt.Before(t) {
			first[k] = o.CreatedAt
		}
	}
	for k, t := range first {
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, float64(t.UnixMilli())/1000, k[0], k[1])
	}

	open, err := c.db.Conflicts(ctx, store.ConflictFilter{OpenOnly: true})
	if err != nil {
		return err
	}
	conflicts := map[[2]string]int{}
	for _, cf := range open {
		conflicts[[2]string{cf.Account, conflictService(cf)}]++
	}
	for k, n := range conflicts {
		ch <- prometheus.MustNewConstMetric(c.conflicts, prometheus.GaugeValue, float64(n), k[0], k[1])
	}

	outages, err := c.db.Outages(ctx, 0)
	if err != nil {
		return err
	}
	total := map[[2]string]int{}
	seconds := map[[2]string]float64{}
	now := time.Now()
	for _, o := range outages {
		k := [2]string{o.Account, o.Service}
		total[k]++
		end := o.EndedAt
		if o.Open() {
			end = now
		}
		seconds[k] += end.Sub(o.StartedAt).Seconds()
	}
	for k, n := range total {
		ch <- prometheus.MustNewConstMetric(c.outages, prometheus.CounterValue, float64(n), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(c.outageSeconds, prometheus.CounterValue, seconds[k], k[0], k[1])
	}
	return nil
}

// conflictService is the provider service a conflict is about.
func conflictService(c store.Conflict) string {
	switch c.Kind {
	case "calendar":
		return "caldav"
	case "file":
		return "webdav"
	}
	return "smtp" // mail conflicts are sends that may have gone already
}
