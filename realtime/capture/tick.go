package capture

import (
	"time"

	"github.com/tidemark/tidemark/formats"
)

// A tick is how an idle stream still moves without any write to the
// source (no heartbeat table): at a replication heartbeat, when no
// transaction is open, Stream sends an empty Txn whose position is the
// last one sent with Row incremented (Row 1 after a commit, 2 at the next
// tick, ...) and whose CommitTime is the local time, in whole seconds.
// The heartbeat proves that the source had committed nothing after that
// position when it was sent, so the tick sorts after every transaction
// before it and before every later one (whose commit offset is larger).
// A consumer treats it as any transaction without events: checkpoints
// and lag move, and the segment rule (max(previous segment, commit time /
// width)) places it, so an idle segment whose time has passed is followed
// by a transaction of a later segment and can be sealed. Resuming from a
// tick resumes after its commit (Row is not a binlog coordinate).

// tick returns the next tick after the last position sent.
func (st *streamState) tick() *formats.Txn {
	pos := st.resume
	pos.Row++
	st.lastTick = time.Now()
	// Its Stamp is the heartbeat's receipt, to the microsecond: the source
	// had sent everything then (the lag is now minus that moment).
	return &formats.Txn{Pos: pos, CommitTime: st.lastTick.UTC().Truncate(time.Second),
		Stamp: formats.Stamp{Time: st.lastTick.UTC(), Clock: formats.ClockReceived}}
}

// idle reports whether no event group is open.
func (a *assembler) idle() bool { return !a.open && len(a.events) == 0 }

// heartbeatPeriod is the replication heartbeat period asked of the
// source: the shorter of Heartbeat and Tick (0: none).
func (c *Capture) heartbeatPeriod() time.Duration {
	hb := c.cfg.Heartbeat
	if c.cfg.Tick > 0 && (hb <= 0 || c.cfg.Tick < hb) {
		hb = c.cfg.Tick
	}
	return max(hb, 0)
}
