package scheduler

import (
	"testing"
	"time"
)

func ticks(t *testing.T, spec, zone string, from time.Time, n int) []string {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSchedule(spec, loc)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	at := from
	for range n {
		at = s.Next(at)
		out = append(out, at.In(loc).Format("01-02 15:04 MST"))
	}
	return out
}

func equal(t *testing.T, what string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %q, want %q", what, got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("%s: got %q, want %q", what, got, want)
		}
	}
}

// TestDSTSpringForward: a daily 02:30 in America/New_York on 2026-03-08
// (02:00 EST jumps to 03:00 EDT) runs once at 03:00 EDT, the gap's end;
// robfig/cron alone skips that day.
func TestDSTSpringForward(t *testing.T) {
	from := time.Date(2026, 3, 7, 12, 0, 0, 0, time.UTC)
	equal(t, "daily 02:30", ticks(t, "0 30 2 * * *", "America/New_York", from, 3),
		[]string{"03-08 03:00 EDT", "03-09 02:30 EDT", "03-10 02:30 EDT"})
	// Every 15 minutes: the four ticks in the gap are one, at 03:00.
	equal(t, "every 15 min", ticks(t, "0 */15 * * * *", "America/New_York", time.Date(2026, 3, 8, 6, 40, 0, 0, time.UTC), 4),
		[]string{"03-08 01:45 EST", "03-08 03:00 EDT", "03-08 03:15 EDT", "03-08 03:30 EDT"})
	// A zone whose gap is at midnight (America/Santiago, 2026-09-06).
	equal(t, "midnight gap", ticks(t, "0 0 0 * * *", "America/Santiago", time.Date(2026, 9, 5, 12, 0, 0, 0, time.UTC), 2),
		[]string{"09-06 01:00 -03", "09-07 00:00 -03"})
}

// TestDSTFallBack: the repeated hour of 2026-11-01 in America/New_York
// (02:00 EDT falls back to 01:00 EST) ticks once, at its first occurrence.
func TestDSTFallBack(t *testing.T) {
	from := time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC)
	equal(t, "daily 01:30", ticks(t, "0 30 1 * * *", "America/New_York", from, 3),
		[]string{"11-01 01:30 EDT", "11-02 01:30 EST", "11-03 01:30 EST"})
	equal(t, "hourly :30", ticks(t, "0 30 * * * *", "America/New_York", time.Date(2026, 11, 1, 4, 0, 0, 0, time.UTC), 3),
		[]string{"11-01 00:30 EDT", "11-01 01:30 EDT", "11-01 02:30 EST"})
	// Starting inside the second occurrence: 01:30 already ran (at its
	// first occurrence), so the next tick is the next day's.
	equal(t, "restart in repeated hour", ticks(t, "0 30 1 * * *", "America/New_York", time.Date(2026, 11, 1, 6, 10, 0, 0, time.UTC), 1),
		[]string{"11-02 01:30 EST"})
}

func TestEveryIsAGrid(t *testing.T) {
	s, err := NewSchedule("@every 2s", nil)
	if err != nil {
		t.Fatal(err)
	}
	a := s.Next(time.Date(2026, 1, 1, 0, 0, 0, 300e6, time.UTC))
	b := s.Next(time.Date(2026, 1, 1, 0, 0, 1, 700e6, time.UTC))
	if !a.Equal(b) || !a.Equal(time.Date(2026, 1, 1, 0, 0, 2, 0, time.UTC)) {
		t.Errorf("two processes started 1.4s apart tick at %v and %v", a, b)
	}
}

func TestBadSpec(t *testing.T) {
	for _, spec := range []string{"", "every day", "61 * * * *", "* * * * * * *", "CRON_TZ=UTC 0 * * * *"} {
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
