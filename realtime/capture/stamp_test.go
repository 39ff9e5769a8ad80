package capture

import (
	"context"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
)

// TestStreamStamps: a backlog read late keeps the binlog's commit second
// (commit_time_s); a transaction received while caught up is stamped with
// its receive time (receive); a heartbeat row's DATETIME(6) stamps its
// transaction to the microsecond (heartbeat_us). On a server of its own: a
// shared one's other writes would keep the capture from ever being drained.
func TestStreamStamps(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	var hb formats.TableID
	s := newSource(t, func(c *Config) {
		hb = formats.TableID{DB: c.Databases[0], Table: "tm_heartbeat"}
		c.HeartbeatTable = hb
	})
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY) ENGINE=InnoDB")
	from := s.pos(t)
	s.exec(t, "INSERT INTO shop.t VALUES (1)", "INSERT INTO shop.t VALUES (2)")
	time.Sleep(2100 * time.Millisecond) // older than stamp's 2 s margin when read
	st := startStream(t, s.c, from)
	for range 2 {
		txn := st.next(t, 30*time.Second)
		if txn.Stamp.Clock != formats.ClockCommitSeconds || !txn.Stamp.Time.Equal(txn.CommitTime) {
			t.Errorf("backlog txn %s: stamp %+v, want the commit second %s", txn.Pos, txn.Stamp, txn.CommitTime)
		}
	}

	// Caught up: the next transaction is stamped when it arrives. The
	// source is quiet but for this test, so the capture is drained.
	received := 0
	for i := range 5 {
		before := time.Now()
		s.exec(t, "INSERT INTO shop.t VALUES ("+string(rune('3'+i))+")")
		txn := st.next(t, 30*time.Second)
		after := time.Now()
		if txn.Stamp.Clock != formats.ClockReceived {
			t.Logf("txn %s: stamp %s (not drained at that moment?)", txn.Pos, txn.Stamp)
			continue
		}
		received++
		if txn.Stamp.Time.Before(before) || txn.Stamp.Time.After(after) {
			t.Errorf("txn %s: received at %s, not between the INSERT (%s) and its delivery (%s)", txn.Pos, txn.Stamp.Time, before, after)
		}
	}
	if received < 3 {
		t.Errorf("%d of 5 transactions of a caught-up capture stamped on receipt, want most", received)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	beat := make(chan error, 1)
	start := time.Now()
	go func() { beat <- s.c.Heartbeat(ctx, 100*time.Millisecond) }()
	beats := 0
	for beats < 3 {
		txn := st.next(t, 30*time.Second)
		if txn.Events[0].Table != hb {
			continue
		}
		beats++
		if txn.Stamp.Clock != formats.ClockHeartbeat {
			t.Fatalf("heartbeat txn %s: stamp %s, want heartbeat_us", txn.Pos, txn.Stamp)
		}
		// The same host's clock: the row's time is between the writer's
		// start and now, to the microsecond (not a whole second).
		if d := txn.Stamp.Time.Sub(start); d < -time.Millisecond || txn.Stamp.Time.After(time.Now()) {
			t.Errorf("heartbeat txn %s: stamp %s, writer started %s", txn.Pos, txn.Stamp.Time, start)
		}
		if txn.Stamp.Time.Equal(txn.Stamp.Time.Truncate(time.Second)) && txn.CommitTime.Equal(txn.Stamp.Time) {
			t.Errorf("heartbeat txn %s: stamp %s is the commit second", txn.Pos, txn.Stamp.Time)
		}
	}
	cancel()
	if err := <-beat; err != nil {
		t.Fatal(err)
	}
}

// TestStampFromMySQLCommitTimestamp: a MySQL 8 GTID event's
// immediate_commit_timestamp stamps its transaction to the microsecond; a
// GTID event without one (MySQL < 8.0.1) leaves the commit second.
func TestStampFromMySQLCommitTimestamp(t *testing.T) {
	a := newAssembler(nil, newTableCache(newCaptureSet([]string{"shop"}, nil)), "binlog.000001", formats.TableID{})
	at := time.Date(2026, 12, 7, 23, 50, 1, 123456000, time.UTC)
	sid := make([]byte, 16)
	for i, us := range []uint64{uint64(at.UnixMicro()), 0} {
		h := &replication.EventHeader{Timestamp: uint32(at.Unix()), LogPos: uint32(1000 + 100*i)}
		if _, err := a.feedEvent(h, &replication.GTIDEvent{SID: sid, GNO: int64(i + 1), ImmediateCommitTimestamp: us}, h.LogPos); err != nil {
			t.Fatal(err)
		}
		txn, err := a.feedEvent(h, &replication.XIDEvent{}, h.LogPos+50)
		if err != nil || txn == nil {
			t.Fatalf("no transaction at the XID: %v", err)
		}
		want := formats.Stamp{Time: at, Clock: formats.ClockCommitMicros}
		if us == 0 {
			want = formats.Stamp{Time: at.Truncate(time.Second), Clock: formats.ClockCommitSeconds}
		}
		if !txn.Stamp.Time.Equal(want.Time) || txn.Stamp.Clock != want.Clock {
			t.Errorf("GTID with immediate_commit_timestamp %d: stamp %s, want %s", us, txn.Stamp, want)
		}
	}
}
