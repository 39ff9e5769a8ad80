package realtime

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tidemark/tidemark/formats"
)

// Metrics is the speed layer's Prometheus instrumentation. It implements
// the small Metrics interfaces that capture and apply declare. docs/operations.md
// explains each series.
type Metrics struct {
	events       *prometheus.CounterVec
	txns         prometheus.Counter
	reconnects   prometheus.Counter
	applySeconds prometheus.Histogram
	batchEvents  prometheus.Histogram
	lag          prometheus.Gauge
	ckptTime     prometheus.Gauge
	headroom     prometheus.Gauge
	bootRows     *prometheus.CounterVec
	restarts     *prometheus.CounterVec
	applied      *prometheus.CounterVec
	known        *prometheus.CounterVec
	lastLag      atomic.Int64 // nanoseconds, for the retention headroom

	// The batch layer's changelog archive (archive.go, batch/changelog).
	archAttached  prometheus.Gauge
	archDetaches  prometheus.Counter
	archRestarts  *prometheus.CounterVec
	archSealedSeg prometheus.Gauge
	archSealedTS  prometheus.Gauge
	lakeErrors    *prometheus.CounterVec
	archTook      atomic.Int64 // unix nanoseconds: commit time of the archive's last transaction
	archSealed    atomic.Int64 // unix nanoseconds: last commit of its last sealed segment

	// eventsBy and appliedBy cache the counters of events and applied by
	// (table, op): a label lookup (its hash and the table's name joined
	// anew) per call was a few percent of a small-transaction stream's CPU.
	eventsBy, appliedBy sync.Map // tableOp → prometheus.Counter
}

type tableOp struct {
	t  formats.TableID
	op formats.Op
}

// counter returns vec's counter for (table, op), cached in by.
func counter(vec *prometheus.CounterVec, by *sync.Map, table formats.TableID, op formats.Op) prometheus.Counter {
	k := tableOp{table, op}
	if c, ok := by.Load(k); ok {
		return c.(prometheus.Counter)
	}
	c, _ := by.LoadOrStore(k, vec.WithLabelValues(table.String(), op.String()))
	return c.(prometheus.Counter)
}

// NewMetrics registers the speed layer's series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_capture_events_total", Help: "Row changes read from the binlog, by table and operation.",
		}, []string{"table", "op"}),
		txns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_apply_transactions_total", Help: "Source transactions applied to the views.",
		}),
		reconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tidemark_capture_reconnects_total", Help: "Replication sessions re-established after a break.",
		}),
		applySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tidemark_apply_duration_seconds", Help: "Time to apply one batch to Redis (all views, one round trip).",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tidemark_apply_batch_events", Help: "Row changes pre-aggregated per applied batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}),
		lag: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_lag_seconds", Help: "Now minus the commit time of the last transaction applied to every view (the furthest-behind view's checkpoint).",
		}),
		ckptTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_checkpoint_timestamp_seconds", Help: "Unix time at which the views' checkpoint last moved; checkpoint age = time() - this.",
		}),
		headroom: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tidemark_binlog_retention_headroom_seconds", Help: "Estimated time until the source purges the binlog file the checkpoint needs.",
		}),
		bootRows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_bootstrap_rows_total", Help: "Rows read by bootstrap snapshots, by table.",
		}, []string{"table"}),
		restarts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tidemark_pipeline_restarts_total", Help: "Speed pipeline restarts, by reason.",
		}, []string{"reason"}),
	}
	m.applied = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tidemark_apply_events_total", Help: "Row changes applied to the views, by table and operation.",
	}, []string{"table", "op"})
	m.known = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tidemark_apply_known_fields_total",
		Help: "Aggregate hash fields of batches applied while keeping up: stored from sums computed in Go (matched) or added in Lua because the applier did not know the stored state or knew it stale (added).",
	}, []string{"outcome"})
	reg.MustRegister(m.known, m.applied, m.events, m.txns, m.reconnects, m.applySeconds, m.batchEvents, m.lag, m.ckptTime, m.headroom, m.bootRows, m.restarts)
	m.archAttached = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tidemark_archive_attached", Help: "1 while the changelog archive shares the speed layer's stream, 0 while it catches up from the binlog on its own connection (or is down).",
	})
	m.archDetaches = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "tidemark_archive_detaches_total", Help: "Times the changelog archive fell behind the shared stream's buffer (or lost the speed session) and went on from the binlog on its own.",
	})
	m.archRestarts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tidemark_archive_restarts_total", Help: "Changelog archive sessions ended by a failure and retried, by the side that failed (lake, binlog, purged).",
	}, []string{"reason"})
	m.archSealedSeg = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tidemark_archive_last_sealed_segment", Help: "Id of the changelog archive's last sealed segment.",
	})
	m.archSealedTS = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "tidemark_archive_last_sealed_commit_timestamp_seconds", Help: "Unix commit time of the last transaction of the archive's last sealed segment: the batch layer can cut no later; time() - this is the archive's checkpoint age.",
	})
	m.lakeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tidemark_lake_errors_total", Help: "Errors of the lake (object store) met by the changelog archive, by kind (unavailable, throttled, timeout, denied, other).",
	}, []string{"component", "kind"})
	lag := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "tidemark_archive_lag_seconds", Help: "Now minus the commit time of the last transaction the changelog archive took (0 before it took any).",
	}, func() float64 {
		n := m.archTook.Load()
		if n == 0 {
			return 0
		}
		return time.Since(time.Unix(0, n)).Seconds()
	})
	reg.MustRegister(m.archAttached, m.archDetaches, m.archRestarts, m.archSealedSeg, m.archSealedTS, m.lakeErrors, lag)
	return m
}

func (m *Metrics) archiveAttached() { m.archAttached.Set(1) }

func (m *Metrics) archiveDetached() {
	m.archAttached.Set(0)
	m.archDetaches.Inc()
}

func (m *Metrics) archiveRestarted(reason string) {
	m.archAttached.Set(0)
	m.archRestarts.WithLabelValues(reason).Inc()
}

func (m *Metrics) archiveTook(commit time.Time) { m.archTook.Store(commit.UnixNano()) }

// SegmentSealed implements changelog.Metrics: the archive's last sealed
// segment, whose last commit is where the archive resumes after a failure
// (so the binlog retention headroom counts from it too).
func (m *Metrics) SegmentSealed(segment uint64, lastCommit time.Time) {
	m.archSealedSeg.Set(float64(segment))
	if !lastCommit.IsZero() {
		m.archSealedTS.Set(float64(lastCommit.UnixNano()) / 1e9)
		m.archSealed.Store(lastCommit.UnixNano())
	}
}

// LakeError implements changelog.Metrics.
func (m *Metrics) LakeError(kind string) { m.lakeErrors.WithLabelValues("archive", kind).Inc() }

// Reconnected implements capture.Metrics.
func (m *Metrics) Reconnected() { m.reconnects.Inc() }

// Events implements capture.Metrics.
func (m *Metrics) Events(table formats.TableID, op formats.Op, n int) {
	counter(m.events, &m.eventsBy, table, op).Add(float64(n))
}

// EventsApplied implements apply.Metrics.
func (m *Metrics) EventsApplied(table formats.TableID, op formats.Op, n int) {
	counter(m.applied, &m.appliedBy, table, op).Add(float64(n))
}

// BatchApplied implements apply.Metrics.
func (m *Metrics) BatchApplied(txns, events int, took time.Duration) {
	m.txns.Add(float64(txns))
	m.applySeconds.Observe(took.Seconds())
	m.batchEvents.Observe(float64(events))
	m.ckptTime.Set(float64(time.Now().UnixNano()) / 1e9)
}

// KnownFields implements apply.Metrics.
func (m *Metrics) KnownFields(matched, added int) {
	m.known.WithLabelValues("matched").Add(float64(matched))
	m.known.WithLabelValues("added").Add(float64(added))
}

// Lag implements apply.Metrics.
func (m *Metrics) Lag(d time.Duration) {
	m.lag.Set(d.Seconds())
	m.lastLag.Store(int64(d))
}

// BootstrapRows counts n rows read by a bootstrap snapshot of table.
func (m *Metrics) BootstrapRows(table formats.TableID, n int64) {
	m.bootRows.WithLabelValues(table.String()).Add(float64(n))
}

// Restarted counts a pipeline restart for reason.
func (m *Metrics) Restarted(reason string) { m.restarts.WithLabelValues(reason).Inc() }

// Headroom records the binlog retention headroom: how long until the
// source may purge the file the oldest checkpoint is in, the views' or the
// changelog archive's (its last sealed segment, where it resumes after a
// failure). A file was written at least until the checkpoint's commit, so
// retention minus the checkpoint's age is a lower bound. Retention 0
// (never purged) is +Inf.
func (m *Metrics) Headroom(retention time.Duration) {
	if retention <= 0 {
		m.headroom.Set(math.Inf(1))
		return
	}
	age := time.Duration(m.lastLag.Load())
	if n := m.archSealed.Load(); n != 0 {
		age = max(age, time.Since(time.Unix(0, n)))
	}
	m.headroom.Set((retention - age).Seconds())
}
