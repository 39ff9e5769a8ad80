package reporting

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// TestLagSource: lag_ms comes with the clock it was measured on; the cut's
// time (speed layer not past the cut) is a commit second; no time, no lag.
func TestLagSource(t *testing.T) {
	now := time.Date(2026, 12, 7, 23, 0, 0, 0, time.UTC)
	cases := []struct {
		name   string
		f      Freshness
		lag    any
		source any
	}{
		{"received", Freshness{Cut: pos(100), SpeedPosition: pos(200), SpeedTime: now.Add(-1700 * time.Microsecond), SpeedClock: formats.ClockReceived}, 1.0, "receive"},
		{"heartbeat", Freshness{Cut: pos(100), SpeedPosition: pos(200), SpeedTime: now.Add(-42 * time.Millisecond), SpeedClock: formats.ClockHeartbeat}, 42.0, "heartbeat_us"},
		{"mysql µs", Freshness{Cut: pos(100), SpeedPosition: pos(200), SpeedTime: now.Add(-3 * time.Millisecond), SpeedClock: formats.ClockCommitMicros}, 3.0, "commit_time_us"},
		{"commit second", Freshness{Cut: pos(100), SpeedPosition: pos(200), SpeedTime: now.Add(-time.Second), SpeedClock: formats.ClockCommitSeconds}, 1000.0, "commit_time_s"},
		{"cut", Freshness{Cut: pos(100), CutTime: now.Add(-2 * time.Second)}, 2000.0, "commit_time_s"},
		{"unknown", Freshness{Cut: pos(100), SpeedPosition: pos(200)}, nil, nil},
	}
	for _, c := range cases {
		var m map[string]any
		b := appendFreshness(nil, c.f, now)
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("%s: %s: %v", c.name, b, err)
		}
		if m["lag_ms"] != c.lag || m["lag_source"] != c.source {
			t.Errorf("%s: lag_ms %v lag_source %v, want %v %v (%s)", c.name, m["lag_ms"], m["lag_source"], c.lag, c.source, b)
		}
	}
}
