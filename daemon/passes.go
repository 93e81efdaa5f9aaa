package daemon

import (
	"fmt"
	gosync "sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/holdover/holdover/sync/calsync"
	"github.com/holdover/holdover/sync/filesync"
	"github.com/holdover/holdover/sync/mailsync"
)

// passes keeps what the daemon's sync loops last did, per account and
// service, for the status page and the metrics. Figures come from the
// runners' results (the engines count them already); nothing here asks a
// provider.
type passes struct {
	mu   gosync.Mutex
	last map[[2]string]pass

	duration *prometheus.HistogramVec
	bytes    *prometheus.CounterVec
	objects  *prometheus.CounterVec
	lastOK   *prometheus.GaugeVec
}

// pass is the last successful pass of a service.
type pass struct {
	at   time.Time
	what string
}

func newPasses(reg prometheus.Registerer) *passes {
	labels := []string{"account", "service"}
	p := &passes{
		last: map[[2]string]pass{},
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "holdover_sync_pass_duration_seconds",
			Help:    "How long sync passes took, failed ones included.",
			Buckets: []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}, labels),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdover_sync_bytes_total",
			Help: "Bytes downloaded by sync passes.",
		}, labels),
		objects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdover_sync_objects_total",
			Help: "Messages, calendar objects or files downloaded by sync passes.",
		}, labels),
		lastOK: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "holdover_last_successful_sync_timestamp_seconds",
			Help: "When the last successful sync pass of a service ended.",
		}, labels),
	}
	reg.MustRegister(p.duration, p.bytes, p.objects, p.lastOK)
	return p
}

// observe records one pass of a service.
func (p *passes) observe(account, service string, took time.Duration, bytes int64, objects int, what string, err error) {
	p.duration.WithLabelValues(account, service).Observe(took.Seconds())
	p.bytes.WithLabelValues(account, service).Add(float64(bytes))
	p.objects.WithLabelValues(account, service).Add(float64(objects))
	if err != nil {
		return
	}
	p.succeeded(account, service, what)
}

// succeeded records a successful pass.
func (p *passes) succeeded(account, service, what string) {
	now := time.Now()
	p.lastOK.WithLabelValues(account, service).Set(float64(now.UnixMilli()) / 1000)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last[[2]string{account, service}] = pass{at: now, what: what}
}

// get returns the last successful pass of a service.
func (p *passes) get(account, service string) (pass, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l, ok := p.last[[2]string{account, service}]
	return l, ok
}

// mailPassed is a mail runner's Passed hook.
func (p *passes) mailPassed(account string) func(mailsync.Stats, time.Duration, error) {
	return func(st mailsync.Stats, took time.Duration, err error) {
		what := "no change"
		if n := st.New + st.Expunged + st.FlagChanges; n > 0 {
			what = fmt.Sprintf("%d new, %d flag changes, %d removed", st.New, st.FlagChanges, st.Expunged)
		}
		p.observe(account, "imap", took, st.Bytes, st.Downloaded, what, err)
	}
}

// calPassed is a calendar runner's Passed hook.
func (p *passes) calPassed(account string) func(calsync.Stats, time.Duration, error) {
	return func(st calsync.Stats, took time.Duration, err error) {
		what := "no change"
		if st.Fetched+st.Removed > 0 {
			what = fmt.Sprintf("%d events fetched, %d removed", st.Fetched, st.Removed)
		}
		p.observe(account, "caldav", took, 0, st.Fetched, what, err)
	}
}

// filesPassed is a files runner's Passed hook.
func (p *passes) filesPassed(account string) func(filesync.Stats, time.Duration, error) {
	return func(st filesync.Stats, took time.Duration, err error) {
		what := "no change"
		if st.Queued+st.Downloaded+st.RemovedLocal+st.Renamed > 0 {
			what = fmt.Sprintf("%d downloaded, %d renamed, %d removed here, %d local changes queued", st.Downloaded, st.Renamed, st.RemovedLocal, st.Queued)
		}
		p.observe(account, "webdav", took, st.Bytes, st.Downloaded, what, err)
	}
}
