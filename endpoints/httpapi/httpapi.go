// Package httpapi is the daemon's local HTTP listener (listen.http,
// 127.0.0.1:7878 by default): liveness, readiness and Prometheus metrics.
// The status page and the JSON API arrive with their issues and will sit
// behind the local token; nothing served here today carries user data or a
// secret, only counts and states.
package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewHandler returns /healthz (the process answers), /readyz (the daemon
// has opened its store and started its components) and /metrics.
func NewHandler(metrics prometheus.Gatherer, ready func() bool) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if !ready() {
			http.Error(w, "starting or stopping", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	return mux
}
