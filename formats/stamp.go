package formats

import (
	"fmt"
	"strings"
	"time"
)

// Clock says how a transaction's time for the lag (Txn.Stamp) was
// measured, and so how precise it is. The binlog event header stamps a
// commit in whole seconds of the source's clock, so a lag taken from it is
// over-stated by up to a second; the other clocks are precise to the
// microsecond (or to the replication delay, for ClockReceived).
type Clock uint8

const (
	// ClockUnknown: no time is known.
	ClockUnknown Clock = iota
	// ClockCommitSeconds is the binlog event header's commit timestamp:
	// whole seconds of the source's clock (the commit was up to 1 s
	// later). A batch generation's cut time is one too.
	ClockCommitSeconds
	// ClockReceived is when the capture received the commit from the
	// source, on the capturing process's clock, taken only while it had
	// received everything the source had sent (caught up): the commit was
	// then earlier by no more than the source's replication delay (a
	// fraction of a millisecond on a LAN).
	ClockReceived
	// ClockCommitMicros is MySQL 8's immediate_commit_timestamp, carried
	// by its GTID events: the commit's microsecond on the source's clock.
	ClockCommitMicros
	// ClockHeartbeat is the DATETIME(6) value (UTC_TIMESTAMP(6) of the
	// source) of the heartbeat row the transaction wrote: microseconds of
	// the source's clock, taken just before its commit.
	ClockHeartbeat
)

var clockNames = [...]string{
	ClockUnknown:       "",
	ClockCommitSeconds: "commit_time_s",
	ClockReceived:      "receive",
	ClockCommitMicros:  "commit_time_us",
	ClockHeartbeat:     "heartbeat_us",
}

// String is the clock's name in the API (freshness.lag_source) and in the
// stored checkpoint time: "commit_time_s", "receive", "commit_time_us",
// "heartbeat_us"; "" for ClockUnknown.
func (c Clock) String() string {
	if int(c) < len(clockNames) {
		return clockNames[c]
	}
	return fmt.Sprintf("clock(%d)", uint8(c))
}

// Resolution is how far a time of this clock may be from the commit it
// stands for (the source's and this host's clocks aside): 1 s for the
// binlog's whole seconds, 1 µs for the microsecond clocks, and for
// ClockReceived the replication delay, written as 1 ms. Zero for
// ClockUnknown.
func (c Clock) Resolution() time.Duration {
	switch c {
	case ClockCommitSeconds:
		return time.Second
	case ClockReceived:
		return time.Millisecond
	case ClockCommitMicros, ClockHeartbeat:
		return time.Microsecond
	}
	return 0
}

// ParseClock is the inverse of Clock.String.
func ParseClock(s string) (Clock, error) {
	for c, n := range clockNames {
		if n == s && c != int(ClockUnknown) {
			return Clock(c), nil
		}
	}
	return ClockUnknown, fmt.Errorf("clock %q: want commit_time_s, receive, commit_time_us or heartbeat_us", s)
}

// Stamp is the best-known time of a transaction's commit and the clock it
// was read from: what a lag is measured against.
type Stamp struct {
	Time  time.Time
	Clock Clock
}

// IsZero reports whether no time is known.
func (s Stamp) IsZero() bool { return s.Time.IsZero() }

// String is the stored form: the time in RFC 3339 (UTC, with its fraction)
// followed by a space and the clock's name, or the time alone for
// ClockCommitSeconds (the form stored before the clock was, which
// ParseStamp reads as such); "" for the zero Stamp.
func (s Stamp) String() string {
	if s.Time.IsZero() {
		return ""
	}
	t := s.Time.UTC().Format(time.RFC3339Nano)
	if s.Clock == ClockCommitSeconds || s.Clock == ClockUnknown {
		return t
	}
	return t + " " + s.Clock.String()
}

// ParseStamp is the inverse of Stamp.String.
func ParseStamp(v string) (Stamp, error) {
	if v == "" {
		return Stamp{}, nil
	}
	ts, name, ok := strings.Cut(v, " ")
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return Stamp{}, fmt.Errorf("stamp %q: %w", v, err)
	}
	if !ok {
		return Stamp{Time: t, Clock: ClockCommitSeconds}, nil
	}
	c, err := ParseClock(name)
	if err != nil {
		return Stamp{}, fmt.Errorf("stamp %q: %w", v, err)
	}
	return Stamp{Time: t, Clock: c}, nil
}
