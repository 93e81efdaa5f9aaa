package daemon

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics is the daemon's own Prometheus registry (never the global one,
// so tests can run several daemons in one process).
type metrics struct {
	reg              *prometheus.Registry
	reloadOK         prometheus.Gauge
	reloadTimestamp  prometheus.Gauge
	reloadsTotal     *prometheus.CounterVec
	configGeneration prometheus.Gauge
}

func newMetrics(version string) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "holdover_config_last_reload_successful",
			Help: "Whether the last configuration (re)load was applied (1) or rejected (0).",
		}),
		reloadTimestamp: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "holdover_config_last_reload_success_timestamp_seconds",
			Help: "When a configuration was last applied.",
		}),
		reloadsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "holdover_config_reloads_total",
			Help: "Configuration reload attempts by result.",
		}, []string{"result"}),
		configGeneration: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "holdover_config_generation",
			Help: "How many configurations this daemon has applied.",
		}),
	}
	build := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "holdover_build_info",
		Help:        "Build information; always 1.",
		ConstLabels: prometheus.Labels{"version": version},
	})
	build.Set(1)
	m.reg.MustRegister(m.reloadOK, m.reloadTimestamp, m.reloadsTotal, m.configGeneration, build,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}
