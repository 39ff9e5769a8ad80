package scheduler

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the scheduler's Prometheus metrics. A nil *Metrics records
// nothing.
type Metrics struct {
	duration    *prometheus.HistogramVec
	lastSuccess *prometheus.GaugeVec
	lastTick    *prometheus.GaugeVec
	failures    *prometheus.CounterVec
	skipped     *prometheus.CounterVec
	missed      *prometheus.CounterVec
	leasesLost  *prometheus.CounterVec
	mismatches  *prometheus.CounterVec
}

// NewMetrics registers the scheduler's metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "tidemark_job_run_duration_seconds", Help: "Duration of job attempts, by job and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2.5, 12),
		}, []string{"job", "outcome"}),
		lastSuccess: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tidemark_job_last_success_timestamp_seconds", Help: "Unix time of the job's last successful run.",
		}, []string{"job"}),
		lastTick: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tidemark_job_last_tick_timestamp_seconds", Help: "Unix time of the last tick this process gave an outcome (ticks stopping show here).",
		}, []string{"job"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_job_failures_total", Help: "Runs that failed for good (after their retries).",
		}, []string{"job"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_job_ticks_skipped_total", Help: "Ticks not run, by reason (overlap, paused).",
		}, []string{"job", "reason"}),
		missed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_job_ticks_missed_total", Help: "Ticks no process ran and recorded as missed (outside catchup_window).",
		}, []string{"job"}),
		leasesLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_job_leases_lost_total", Help: "Runs that lost their lease (expired or fenced) before finishing.",
		}, []string{"job"}),
		mismatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_verify_mismatches_total", Help: "Differences verify jobs found between views and the source.",
		}, []string{"job"}),
	}
	reg.MustRegister(m.duration, m.lastSuccess, m.lastTick, m.failures, m.skipped, m.missed, m.leasesLost, m.mismatches)
	return m
}

func (m *Metrics) attempt(job string, o Outcome, seconds float64) {
	if m != nil {
		m.duration.WithLabelValues(job, string(o)).Observe(seconds)
	}
}

func (m *Metrics) success(job string, unix float64) {
	if m != nil {
		m.lastSuccess.WithLabelValues(job).Set(unix)
	}
}

func (m *Metrics) tick(job string, unix float64) {
	if m != nil {
		m.lastTick.WithLabelValues(job).Set(unix)
	}
}

func (m *Metrics) failure(job string) {
	if m != nil {
		m.failures.WithLabelValues(job).Inc()
	}
}

func (m *Metrics) skip(job, reason string) {
	if m != nil {
		m.skipped.WithLabelValues(job, reason).Inc()
	}
}

func (m *Metrics) miss(job string, n int) {
	if m != nil {
		m.missed.WithLabelValues(job).Add(float64(n))
	}
}

func (m *Metrics) leaseLost(job string) {
	if m != nil {
		m.leasesLost.WithLabelValues(job).Inc()
	}
}

func (m *Metrics) mismatch(job string, n int64) {
	if m != nil && n > 0 {
		m.mismatches.WithLabelValues(job).Add(float64(n))
	}
}
