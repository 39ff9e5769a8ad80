package warehouse

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PromMetrics are the warehouse loads' Prometheus metrics.
type PromMetrics struct {
	duration *prometheus.HistogramVec
	rows     *prometheus.CounterVec
	failures *prometheus.CounterVec
	loaded   *prometheus.GaugeVec
}

var _ Metrics = (*PromMetrics)(nil)

// NewPromMetrics registers the metrics with reg.
func NewPromMetrics(reg prometheus.Registerer) *PromMetrics {
	m := &PromMetrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tidemark_warehouse_load_seconds", Help: "Duration of warehouse load attempts (prepare, swap, cleanup).",
			Buckets: prometheus.ExponentialBuckets(0.1, 2, 14),
		}, []string{"target"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_warehouse_loaded_rows_total", Help: "Rows copied into warehouse targets.",
		}, []string{"target"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_warehouse_load_failures_total", Help: "Failed warehouse load attempts, by reason (unavailable, stale, fenced, error).",
		}, []string{"target", "reason"}),
		loaded: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tidemark_warehouse_loaded_generation", Help: "The generation each warehouse target holds.",
		}, []string{"target"}),
	}
	reg.MustRegister(m.duration, m.rows, m.failures, m.loaded)
	return m
}

// LoadDone records one attempt.
func (m *PromMetrics) LoadDone(target string, _ uint64, rows int64, d time.Duration, err error) {
	m.duration.WithLabelValues(target).Observe(d.Seconds())
	m.rows.WithLabelValues(target).Add(float64(rows))
	if err != nil {
		reason := "error"
		switch {
		case errors.Is(err, ErrUnavailable):
			reason = "unavailable"
		case errors.Is(err, ErrStale):
			reason = "stale"
		case errors.Is(err, ErrFenced):
			reason = "fenced"
		}
		m.failures.WithLabelValues(target, reason).Inc()
	}
}

// Loaded records the generation a target holds.
func (m *PromMetrics) Loaded(target string, gen uint64) {
	m.loaded.WithLabelValues(target).Set(float64(gen))
}
