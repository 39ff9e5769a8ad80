package formats

// IsTick reports whether t is a tick: not a source transaction but the
// capture's proof, at a replication heartbeat of an idle source, that
// nothing was committed after the last transaction up to t.CommitTime (the
// capture's clock). A tick has no events and a position with Row != 0:
// the last transaction's commit coordinates, so it sorts after that
// transaction and before the next. Consumers place it by the segment rule
// like any transaction; see realtime/capture's Stream.
func (t *Txn) IsTick() bool { return len(t.Events) == 0 && t.Pos.Row != 0 }
