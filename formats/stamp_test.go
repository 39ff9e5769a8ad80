package formats

import (
	"testing"
	"time"
)

func TestStampRoundTrip(t *testing.T) {
	at := time.Date(2026, 12, 7, 23, 1, 2, 345678000, time.UTC)
	for _, s := range []Stamp{
		{},
		{Time: at.Truncate(time.Second), Clock: ClockCommitSeconds},
		{Time: at, Clock: ClockReceived},
		{Time: at, Clock: ClockCommitMicros},
		{Time: at, Clock: ClockHeartbeat},
	} {
		got, err := ParseStamp(s.String())
		if err != nil || !got.Time.Equal(s.Time) || got.Clock != s.Clock {
			t.Errorf("ParseStamp(%q) = %+v, %v; want %+v", s.String(), got, err, s)
		}
	}
	// The form stored before clocks were: a commit second.
	got, err := ParseStamp("2026-12-07T23:01:02Z")
	if err != nil || got.Clock != ClockCommitSeconds || got.Time.Unix() != at.Unix() {
		t.Errorf("old form: %+v, %v", got, err)
	}
	if s := (Stamp{Time: at, Clock: ClockReceived}).String(); s != "2026-12-07T23:01:02.345678Z receive" {
		t.Errorf("stored form %q", s)
	}
	for _, bad := range []string{"2026-12-07T23:01:02Z sundial", "yesterday", "2026-12-07T23:01:02Z "} {
		if _, err := ParseStamp(bad); err == nil {
			t.Errorf("ParseStamp(%q) accepted", bad)
		}
	}
	if ClockCommitSeconds.Resolution() != time.Second || ClockHeartbeat.Resolution() != time.Microsecond {
		t.Error("resolutions")
	}
}
