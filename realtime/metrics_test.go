package realtime

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func gauge(t *testing.T, g prometheus.Gauge) float64 {
	t.Helper()
	var m dto.Metric
	if err := g.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetGauge().GetValue()
}

// TestHeadroomCoversTheArchive: the binlog retention headroom counts from
// the oldest checkpoint, the views' or the changelog archive's last sealed
// segment, whichever is older.
func TestHeadroomCoversTheArchive(t *testing.T) {
	m := NewMetrics(prometheus.NewRegistry())
	m.Lag(10 * time.Second)
	m.Headroom(time.Hour)
	if got := gauge(t, m.headroom); got < 3589 || got > 3591 {
		t.Fatalf("headroom %v with views 10s behind, want 3590", got)
	}
	m.SegmentSealed(42, time.Now().Add(-10*time.Minute))
	m.Headroom(time.Hour)
	if got := gauge(t, m.headroom); got < 2995 || got > 3001 {
		t.Fatalf("headroom %v with the archive's checkpoint 10 min old, want 3000", got)
	}
	if got := gauge(t, m.archSealedSeg); got != 42 {
		t.Errorf("last sealed segment %v, want 42", got)
	}
}
