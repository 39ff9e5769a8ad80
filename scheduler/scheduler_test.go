package scheduler

import (
	"context"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"
)

type countJob struct {
	runs, concurrent, maxConcurrent atomic.Int32
	hold                            time.Duration
}

func (j *countJob) Name() string { return "count" }
func (j *countJob) Run(ctx context.Context) error {
	n := j.concurrent.Add(1)
	defer j.concurrent.Add(-1)
	for {
		m := j.maxConcurrent.Load()
		if n <= m || j.maxConcurrent.CompareAndSwap(m, n) {
			break
		}
	}
	j.runs.Add(1)
	select {
	case <-time.After(j.hold):
	case <-ctx.Done():
	}
	return nil
}

func TestRunsAndNeverOverlaps(t *testing.T) {
	s := New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	j := &countJob{hold: 1500 * time.Millisecond}
	if err := s.Add("@every 1s", j); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3300*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { _ = s.Run(ctx); close(done) }()
	<-done
	if j.runs.Load() < 2 {
		t.Errorf("job ran %d times, want several", j.runs.Load())
	}
	if j.maxConcurrent.Load() != 1 {
		t.Errorf("job overlapped itself: %d at once", j.maxConcurrent.Load())
	}
	if j.concurrent.Load() != 0 {
		t.Errorf("Run returned with %d job runs still going", j.concurrent.Load())
	}
}

func TestBadSpec(t *testing.T) {
	for _, spec := range []string{"", "every day", "61 * * * *", "* * * * * * *"} {
		if err := ParseSpec(spec); err == nil {
			t.Errorf("ParseSpec(%q) accepted", spec)
		}
	}
	for _, spec := range []string{"*/5 * * * *", "0 */15 * * * *", "@every 15m", "@hourly"} {
		if err := ParseSpec(spec); err != nil {
			t.Errorf("ParseSpec(%q): %v", spec, err)
		}
	}
}
