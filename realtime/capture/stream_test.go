package capture

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

func row(vs ...any) formats.Row { return formats.Row(vs) }

// testStreamTransactions: grouping, order, filtering, rollbacks, savepoints,
// non-transactional commits, update images and empty transactions.
func testStreamTransactions(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t,
		"CREATE TABLE shop.t (id INT PRIMARY KEY, v VARCHAR(20), d DECIMAL(10,2)) ENGINE=InnoDB",
		"CREATE TABLE shop.m (id INT PRIMARY KEY) ENGINE=MyISAM",
		"CREATE TABLE other.x (id INT PRIMARY KEY) ENGINE=InnoDB")
	from := s.pos(t)
	st := startStream(t, s.c, from)

	s.exec(t, "BEGIN",
		"INSERT INTO shop.t VALUES (1,'a',1.50),(2,'b',2)",
		"INSERT INTO shop.t VALUES (3,'c',NULL)",
		"UPDATE shop.t SET v='A', d=d+1 WHERE id=1",
		"DELETE FROM shop.t WHERE id=2",
		"COMMIT")
	s.exec(t, "BEGIN", "INSERT INTO shop.t VALUES (10,'rolled back',0)", "ROLLBACK")
	s.exec(t, "INSERT INTO other.x VALUES (1)")
	s.exec(t, "INSERT INTO shop.m VALUES (7)")
	s.exec(t, "BEGIN",
		"INSERT INTO shop.t VALUES (20,'x',0)",
		"SAVEPOINT s1",
		"INSERT INTO shop.t VALUES (21,'undone',0)",
		"ROLLBACK TO SAVEPOINT s1",
		"INSERT INTO shop.t VALUES (22,'y',0)",
		"COMMIT")
	s.exec(t, "BEGIN", "INSERT INTO shop.t VALUES (30,'z',3)", "INSERT INTO other.x VALUES (2)", "COMMIT")
	end := s.pos(t)

	all := st.until(t, end, 30*time.Second)
	checkOrder(t, all)
	txns := nonEmpty(all)
	if len(txns) != 4 {
		t.Fatalf("got %d transactions with events, want 4: %v", len(txns), all)
	}
	tt := s.table("t")
	type ev struct {
		table         string
		op            formats.Op
		before, after formats.Row
	}
	want := [][]ev{
		{
			{"t", formats.OpInsert, nil, row(int64(1), "a", formats.Decimal("1.50"))},
			{"t", formats.OpInsert, nil, row(int64(2), "b", formats.Decimal("2.00"))},
			{"t", formats.OpInsert, nil, row(int64(3), "c", nil)},
			{"t", formats.OpUpdate, row(int64(1), "a", formats.Decimal("1.50")), row(int64(1), "A", formats.Decimal("2.50"))},
			{"t", formats.OpDelete, row(int64(2), "b", formats.Decimal("2.00")), nil},
		},
		{{"m", formats.OpInsert, nil, row(int64(7))}},
		{
			{"t", formats.OpInsert, nil, row(int64(20), "x", formats.Decimal("0.00"))},
			{"t", formats.OpInsert, nil, row(int64(22), "y", formats.Decimal("0.00"))},
		},
		{{"t", formats.OpInsert, nil, row(int64(30), "z", formats.Decimal("3.00"))}},
	}
	var prevSeq int
	for i, txn := range txns {
		var got []ev
		for _, e := range txn.Events {
			if e.Table.DB != s.shop || e.Schema == nil || e.Schema.Table != e.Table {
				t.Fatalf("txn %d: event table %s schema %+v", i, e.Table, e.Schema)
			}
			got = append(got, ev{e.Table.Table, e.Op, e.Before, e.After})
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("txn %d at %s:\n got %v\nwant %v", i, txn.Pos, got, want[i])
		}
		var dom, srv, seq int
		if _, err := fmt.Sscanf(txn.Pos.GTID, "%d-%d-%d", &dom, &srv, &seq); err != nil || dom != 0 || srv != 1 || seq <= prevSeq {
			t.Errorf("txn %d: GTID %q after sequence %d", i, txn.Pos.GTID, prevSeq)
		}
		prevSeq = seq
		if d := time.Since(txn.CommitTime); d < 0 || d > time.Minute || txn.CommitTime.Location() != time.UTC {
			t.Errorf("txn %d: commit time %v", i, txn.CommitTime)
		}
	}
	if s0 := txns[0].Events[0].Schema; s0.Table != tt || len(s0.Columns) != 3 || !reflect.DeepEqual(s0.PK, []int{0}) ||
		s0.Columns[2].Type.Kind != formats.KindDecimal || s0.Columns[2].Type.Scale != 2 || !s0.Columns[1].Nullable || s0.Columns[0].Nullable {
		t.Errorf("schema %+v", s0)
	}
	if last := txns[len(txns)-1]; end.Less(last.Pos) {
		t.Errorf("last txn at %s, server at %s", last.Pos, end)
	}

	// A transaction on a table that is not captured arrives as an empty Txn
	// at its commit position, so positions move on a filtered source.
	s.exec(t, "INSERT INTO other.x VALUES (3)")
	end = s.pos(t)
	got := st.until(t, end, 10*time.Second)
	if last := got[len(got)-1]; len(last.Events) != 0 || last.Pos.Less(end.Commit()) {
		t.Errorf("filtered txn delivered as %+v, want empty at or after %s", last, end)
	}
	if err := st.stop(); err != nil {
		t.Errorf("Stream returned %v after cancel, want nil", err)
	}
	if n := s.metrics.events.Load(); n != 9 {
		t.Errorf("Metrics.Event called %d times, want 9", n)
	}
}

// testStreamEmptyTxnThrottle: a burst of filtered transactions yields at
// most one empty Txn per IdleTxnInterval, and the last one still arrives.
func testStreamEmptyTxnThrottle(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, func(c *Config) { c.IdleTxnInterval = time.Second })
	s.exec(t, "CREATE TABLE other.x (id INT PRIMARY KEY)")
	st := startStream(t, s.c, s.pos(t))
	start := time.Now()
	for i := range 200 {
		s.exec(t, fmt.Sprintf("INSERT INTO other.x VALUES (%d)", i))
	}
	end := s.pos(t)
	got := st.until(t, end, 10*time.Second)
	elapsed := time.Since(start)
	if max := int(elapsed/time.Second) + 2; len(got) > max {
		t.Errorf("%d empty txns in %s, want at most %d", len(got), elapsed, max)
	}
	if last := got[len(got)-1]; len(last.Events) != 0 || last.Pos.Less(end.Commit()) {
		t.Errorf("last empty txn %+v, want one at or after %s", last, end)
	}
}

// TestStreamReachesFlushedLogs: after FLUSH BINARY LOGS no transaction
// follows, yet the position SHOW MASTER STATUS reports (past the new file's
// binlog checkpoint event) is reached, so a checkpoint can get there. A
// server of its own: on a shared one, other tests' transactions and
// rotations would reach the position without the checkpoint event's Txn.
func TestStreamReachesFlushedLogs(t *testing.T) {
	s := newSource(t, nil)
	st := startStream(t, s.c, s.pos(t))
	s.exec(t, "FLUSH BINARY LOGS")
	end := s.pos(t)
	got := st.until(t, end, 10*time.Second)
	if last := got[len(got)-1]; last.Pos.File != end.File {
		t.Errorf("last txn at %s, want one in the new file %s", last.Pos, end.File)
	}
}

// testStreamLargeTransaction: 10,000-row transactions stream whole and fast.
func testStreamLargeTransaction(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t, "CREATE TABLE shop.big (id INT PRIMARY KEY, v VARCHAR(40), n BIGINT)")
	st := startStream(t, s.c, s.pos(t))
	const n = 10000
	s.exec(t, fmt.Sprintf("INSERT INTO shop.big SELECT seq, CONCAT('row-', seq), seq*3 FROM shop.seq_1_to_%d", n))
	s.exec(t, "UPDATE shop.big SET n = n + 1")
	start := time.Now()
	ins := st.next(t, time.Minute)
	upd := st.next(t, time.Minute)
	t.Logf("2 x %d rows in %s", n, time.Since(start))
	if len(ins.Events) != n || len(upd.Events) != n {
		t.Fatalf("got %d and %d events, want %d each", len(ins.Events), len(upd.Events), n)
	}
	checkOrder(t, []*formats.Txn{ins, upd})
	for i, e := range ins.Events {
		if e.Op != formats.OpInsert || !reflect.DeepEqual(e.After, row(int64(i+1), fmt.Sprintf("row-%d", i+1), int64(3*(i+1)))) {
			t.Fatalf("insert %d: %+v", i, e)
		}
	}
	for i, e := range upd.Events {
		if e.Op != formats.OpUpdate || e.Before[2] != int64(3*(i+1)) || e.After[2] != int64(3*(i+1)+1) {
			t.Fatalf("update %d: %+v", i, e)
		}
	}
}

// testStreamDDL: rows decode with the schema they were written under across
// ADD, DROP and MODIFY COLUMN and RENAME TABLE, even when the stream reads
// them after the DDL has run.
func testStreamDDL(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY, a VARCHAR(10), b INT)")
	from := s.pos(t)
	s.exec(t,
		"INSERT INTO shop.t VALUES (1, 'one', 10)",
		"ALTER TABLE shop.t ADD COLUMN c DECIMAL(6,2) NOT NULL DEFAULT 1.5",
		"INSERT INTO shop.t VALUES (2, 'two', 20, 2.25)",
		"ALTER TABLE shop.t DROP COLUMN a",
		"INSERT INTO shop.t VALUES (3, 30, 3.75)",
		"ALTER TABLE shop.t MODIFY COLUMN b VARCHAR(8)",
		"UPDATE shop.t SET b = CONCAT('b', b) WHERE id = 3",
		"RENAME TABLE shop.t TO shop.t2",
		"INSERT INTO shop.t2 VALUES (4, 'four', 4)",
		"ALTER TABLE shop.t2 ADD PRIMARY KEY (b, id), DROP PRIMARY KEY",
	)
	// The stream starts after every DDL ran: the live schema is the last one.
	st := startStream(t, s.c, from)
	names := func(s *formats.TableSchema) string {
		var ns []string
		for _, c := range s.Columns {
			ns = append(ns, c.Name+":"+c.Type.String())
		}
		return strings.Join(ns, ",")
	}
	want := []struct {
		table, cols string
		after       formats.Row
	}{
		{"t", "id:int,a:varchar(10),b:int", row(int64(1), "one", int64(10))},
		{"t", "id:int,a:varchar(10),b:int,c:decimal(6,2)", row(int64(2), "two", int64(20), formats.Decimal("2.25"))},
		{"t", "id:int,b:int,c:decimal(6,2)", row(int64(3), int64(30), formats.Decimal("3.75"))},
		{"t", "id:int,b:varchar(8),c:decimal(6,2)", row(int64(3), "b30", formats.Decimal("3.75"))},
		{"t2", "id:int,b:varchar(8),c:decimal(6,2)", row(int64(4), "four", formats.Decimal("4.00"))},
	}
	var schemas []*formats.TableSchema
	for i, w := range want {
		txn := st.next(t, 10*time.Second)
		e := txn.Events[0]
		if e.Table.Table != w.table || names(e.Schema) != w.cols || !reflect.DeepEqual(e.After, w.after) {
			t.Errorf("event %d: %s %s %v, want %s %s %v", i, e.Table, names(e.Schema), e.After, w.table, w.cols, w.after)
		}
		schemas = append(schemas, e.Schema)
	}
	if schemas[2] == schemas[3] || schemas[1] == schemas[2] {
		t.Error("a DDL did not produce a new schema value")
	}
	// The schema built from the binlog equals information_schema's now.
	s.exec(t, "INSERT INTO shop.t2 VALUES (5, 'five', 5)")
	e := st.next(t, 10*time.Second).Events[0]
	live, err := s.c.Schemas(context.Background(), []formats.TableID{s.table("t2")})
	if err != nil {
		t.Fatal(err)
	}
	if l := live[e.Table]; !reflect.DeepEqual(l, e.Schema) {
		t.Errorf("binlog schema %+v\n    live schema %+v", e.Schema, l)
	}
	if !reflect.DeepEqual(e.Schema.PK, []int{1, 0}) {
		t.Errorf("PK %v after the new primary key (b, id)", e.Schema.PK)
	}
}

// testStreamResume: streaming again from any delivered position delivers
// exactly the transactions after it.
func testStreamResume(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY, v INT)")
	from := s.pos(t)
	for i := 1; i <= 30; i++ {
		s.exec(t, fmt.Sprintf("INSERT INTO shop.t VALUES (%d, %d)", i, i))
		if i%10 == 0 && i < 30 {
			s.exec(t, "FLUSH BINARY LOGS") // resume positions in several files
		}
	}
	end := s.pos(t)
	st := startStream(t, s.c, from)
	all := nonEmpty(st.until(t, end, 30*time.Second))
	st.stop()
	if len(all) != 30 {
		t.Fatalf("%d txns, want 30", len(all))
	}
	checkOrder(t, all)
	for _, k := range []int{0, 9, 10, 17, 29} {
		st := startStream(t, s.c, all[k].Pos)
		var rest []*formats.Txn
		if k < 29 {
			rest = nonEmpty(st.until(t, end, 30*time.Second))
		}
		st.stop()
		if len(rest) != 29-k {
			t.Fatalf("resume after txn %d: %d txns, want %d", k, len(rest), 29-k)
		}
		for i, txn := range rest {
			if txn.Pos != all[k+1+i].Pos || !reflect.DeepEqual(txn.Events[0].After, all[k+1+i].Events[0].After) {
				t.Fatalf("resume after txn %d: txn %d is %s, want %s", k, i, txn.Pos, all[k+1+i].Pos)
			}
		}
	}
}

// testStreamBackpressure: a consumer that stops reading for longer than
// three heartbeat periods blocks the stream but does not break it.
func testStreamBackpressure(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY)")
	st := startStream(t, s.c, s.pos(t))
	for i := 1; i <= 100; i++ {
		s.exec(t, fmt.Sprintf("INSERT INTO shop.t VALUES (%d)", i))
	}
	first := st.next(t, 10*time.Second)
	time.Sleep(3500 * time.Millisecond) // heartbeat 1s: three periods and more
	got := []*formats.Txn{first}
	for len(got) < 100 {
		got = append(got, st.next(t, 10*time.Second))
	}
	checkOrder(t, got)
	for i, txn := range got {
		if id := ids(t, txn)[0]; id != int64(i+1) {
			t.Fatalf("txn %d has id %d", i, id)
		}
	}
	if n := s.metrics.reconnects.Load(); n != 0 {
		t.Errorf("%d reconnects while the consumer was slow", n)
	}
}

// TestStreamIdleTicks: on a source that commits nothing, the stream still
// moves: at the replication heartbeats it sends ticks, empty Txns after the
// last transaction (same commit, Row counting up) stamped with the current
// time, about one per Tick; the next transaction sorts after them. A server
// of its own: other tests' writes would keep the stream busy.
func TestStreamIdleTicks(t *testing.T) {
	s := newSource(t, func(c *Config) { c.Tick = 500 * time.Millisecond })
	s.exec(t, "CREATE TABLE shop.t (id BIGINT PRIMARY KEY, v INT)", "INSERT INTO shop.t VALUES (1, 1)")
	end := s.pos(t)
	st := startStream(t, s.c, end)
	var ticks []*formats.Txn
	deadline := time.After(3 * time.Second)
collect:
	for {
		select {
		case txn := <-st.out:
			if !txn.IsTick() {
				t.Fatalf("idle source: got %+v, want ticks only", txn.Pos)
			}
			ticks = append(ticks, txn)
		case <-deadline:
			break collect
		}
	}
	if len(ticks) < 3 || len(ticks) > 8 {
		t.Fatalf("%d ticks in 3s at a 500ms tick, want 3 to 8", len(ticks))
	}
	prev := end
	for _, tk := range ticks {
		if tk.Pos.Commit() != end.Commit() || !prev.Less(tk.Pos) {
			t.Fatalf("tick at %s after %s: want the idle commit %s with a larger Row", tk.Pos, prev, end)
		}
		if d := time.Since(tk.CommitTime); d < -time.Second || d > 5*time.Second {
			t.Errorf("tick stamped %s, %s from now", tk.CommitTime, d)
		}
		prev = tk.Pos
	}
	s.exec(t, "INSERT INTO shop.t VALUES (2, 2)")
	next := st.next(t, 10*time.Second)
	if !prev.Less(next.Pos) || next.Pos.Row != 0 {
		t.Fatalf("transaction after the ticks at %s, last tick %s", next.Pos, prev)
	}
}
