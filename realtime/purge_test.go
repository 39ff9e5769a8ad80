package realtime

import (
	"testing"
	"time"
)

// TestPurgeRecoveryBacksOff: the first recovery is immediate; one that
// follows the previous within purgeQuiet waits, doubling up to purgeMax;
// after a quiet spell it is immediate again.
func TestPurgeRecoveryBacksOff(t *testing.T) {
	var r purgeRecovery
	now := time.Unix(1e9, 0)
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := r.delay(now); got != w {
			t.Fatalf("recovery %d: delay %s, want %s", i+1, got, w)
		}
		now = now.Add(time.Second)
	}
	for i := 0; i < 30; i++ {
		r.delay(now)
	}
	if got := r.delay(now); got != purgeMax {
		t.Fatalf("delay after many recoveries %s, want the cap %s", got, purgeMax)
	}
	if got := r.delay(now.Add(purgeQuiet + time.Second)); got != 0 {
		t.Fatalf("delay after a quiet spell %s, want 0", got)
	}
}
