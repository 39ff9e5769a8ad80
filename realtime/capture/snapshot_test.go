package capture

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/internal/workload"
)

// snapshotMap reads a whole table with Snapshot into id -> row.
func snapshotMap(t testing.TB, c *Capture, table formats.TableID, slow bool) (map[int64]formats.Row, formats.Position, []Progress) {
	t.Helper()
	rows := map[int64]formats.Row{}
	var progress []Progress
	n := 0
	pos, err := c.Snapshot(context.Background(), []formats.TableID{table},
		func(_ context.Context, s *formats.TableSchema, r formats.Row) error {
			id := r[0].(int64)
			if _, dup := rows[id]; dup {
				return fmt.Errorf("id %d read twice", id)
			}
			rows[id] = r
			if n++; slow && n%100 == 0 {
				time.Sleep(2 * time.Millisecond) // let the writer commit while the snapshot is read
			}
			return nil
		},
		func(p Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	return rows, pos, progress
}

// testSnapshotThenStream: a snapshot taken under a continuous write load,
// rolled forward with Stream from the snapshot's position, equals the table
// exactly: no change missed or applied twice at the boundary (every update
// and delete's before image matches the replayed row).
func testSnapshotThenStream(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	table := s.table("t")
	s.exec(t,
		"CREATE TABLE shop.t (id BIGINT PRIMARY KEY, v INT NOT NULL, note VARCHAR(30), amt DECIMAL(10,2), ts TIMESTAMP(3) NULL, f FLOAT)",
		"INSERT INTO shop.t SELECT seq, 0, CONCAT('n', seq), seq / 100, FROM_UNIXTIME(1700000000 + seq / 1000), seq / 7 FROM shop.seq_1_to_5000")

	var wg sync.WaitGroup
	stop := make(chan struct{})
	var commits int
	wg.Add(1)
	go func() {
		defer wg.Done()
		rng := rand.New(rand.NewPCG(1, 2))
		for {
			select {
			case <-stop:
				return
			default:
			}
			id := rng.Int64N(8000) + 1
			var err error
			switch rng.IntN(4) {
			case 0:
				_, err = s.db.Exec(s.q("INSERT INTO shop.t VALUES (?, 1, 'new', 1.25, NOW(3), 0.5) ON DUPLICATE KEY UPDATE v = v + 1"), id)
			case 1:
				_, err = s.db.Exec(s.q("UPDATE shop.t SET v = v + 1, amt = amt + 0.01, note = CONCAT(note, '+') WHERE id = ?"), id)
			case 2:
				_, err = s.db.Exec(s.q("DELETE FROM shop.t WHERE id = ?"), id)
			case 3:
				sqlTx, e := s.db.Begin()
				if e != nil {
					err = e
					break
				}
				_, err = sqlTx.Exec(s.q("UPDATE shop.t SET v = v + 10 WHERE id BETWEEN ? AND ?"), id, id+20)
				if err == nil {
					_, err = sqlTx.Exec(s.q("DELETE FROM shop.t WHERE id = ?"), id+21)
				}
				if err != nil {
					sqlTx.Rollback()
					break
				}
				err = sqlTx.Commit()
			}
			if err != nil {
				t.Errorf("writer: %v", err)
				return
			}
			commits++
		}
	}()
	time.Sleep(200 * time.Millisecond)

	state, pos, progress := snapshotMap(t, s.c, table, true)
	col := collect(t, s.c, pos)
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()
	txns := col.wait(t, s.pos(t), 30*time.Second)
	t.Logf("snapshot of %d rows at %s; %d writer commits; %d transactions after it", len(state), pos, commits, len(nonEmpty(txns)))
	if len(nonEmpty(txns)) < 10 {
		t.Fatalf("only %d transactions after the snapshot: the test did not overlap writes", len(nonEmpty(txns)))
	}
	if last := progress[len(progress)-1]; !last.Done || last.Rows != int64(len(state)) || last.Table != table || last.TablesDone != 1 {
		t.Errorf("last progress %+v", last)
	}

	for _, txn := range txns {
		for _, e := range txn.Events {
			switch e.Op {
			case formats.OpInsert:
				id := e.After[0].(int64)
				if _, ok := state[id]; ok {
					t.Fatalf("insert of id %d at %s: already in the snapshot", id, e.Pos)
				}
				state[id] = e.After
			case formats.OpUpdate, formats.OpDelete:
				id := e.Before[0].(int64)
				if cur, ok := state[id]; !ok || !reflect.DeepEqual(cur, e.Before) {
					t.Fatalf("%s of id %d at %s: before image %v, replayed row %v", e.Op, id, e.Pos, e.Before, cur)
				}
				delete(state, id)
				if e.Op == formats.OpUpdate {
					state[e.After[0].(int64)] = e.After
				}
			}
		}
	}
	final, _, _ := snapshotMap(t, s.c, table, false)
	if len(final) != len(state) {
		t.Errorf("replayed %d rows, the table has %d", len(state), len(final))
	}
	for id, r := range final {
		if !reflect.DeepEqual(state[id], r) {
			t.Errorf("id %d: replayed %v, table %v", id, state[id], r)
		}
	}
}

// testBinlogEqualsSnapshot: every column type decodes to the same schema
// and the same Go values from the binlog and from a snapshot.
func testBinlogEqualsSnapshot(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	ctx := context.Background()
	if err := workload.CreateSchema(ctx, s.db, s.shop); err != nil {
		t.Fatal(err)
	}
	st := startStream(t, s.c, s.pos(t))
	s.exec(t,
		"SET time_zone = '+02:00'",
		"INSERT INTO shop.alltypes (id, grp) VALUES (1, 0)",
		`INSERT INTO shop.alltypes VALUES (2, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295,
			-9223372036854775808, 18446744073709551615, -12345678901234.567890,
			'12345678901234567890123456789012345.123456789012345678901234567890', 1.1, -2.5e-300,
			'2024-02-29', '2024-02-29 13:14:15', '1999-12-31 23:59:59.999999', '2038-01-19 05:14:07.499', '-838:59:59.00', 2155,
			'héllo', 'emoji 😀', 'long text', X'01', X'00ff', X'deadbeef', 'green', 'a,d', b'1010101010',
			'{"a": [1, 2.50, "x"], "b": null}', ST_GeomFromText('POINT(1 2)'), 7)`,
		`INSERT INTO shop.alltypes VALUES (3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, -0.0, 0,
			'0000-00-00', '0000-00-00 00:00:00', '1000-01-01 00:00:00.000001', '1970-01-01 02:00:01', '00:00:00.5', 1901,
			'', '', '', X'', X'', X'', 'red', '', b'0', '[]', ST_GeomFromText('LINESTRING(0 0, 1 1)'), -1)`,
	)
	table := s.table("alltypes")
	binlog := map[int64]formats.Row{}
	var binSchema *formats.TableSchema
	for len(binlog) < 3 {
		txn := st.next(t, 10*time.Second)
		for _, e := range txn.Events {
			if e.Table == table {
				binlog[e.After[0].(int64)] = e.After
				binSchema = e.Schema
			}
		}
	}
	snap, _, _ := snapshotMap(t, s.c, table, false)
	live, err := s.c.Schemas(ctx, []formats.TableID{table})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(binSchema, live[table]) {
		for i := range binSchema.Columns {
			if b, l := binSchema.Columns[i], live[table].Columns[i]; !reflect.DeepEqual(b, l) {
				t.Errorf("column %d: binlog %+v, information_schema %+v", i, b, l)
			}
		}
		if !reflect.DeepEqual(binSchema.PK, live[table].PK) {
			t.Errorf("PK: binlog %v, information_schema %v", binSchema.PK, live[table].PK)
		}
	}
	for id, b := range binlog {
		r := snap[id]
		for i, col := range binSchema.Columns {
			if !reflect.DeepEqual(b[i], r[i]) {
				t.Errorf("row %d column %s (%s): binlog %#v, snapshot %#v", id, col.Name, col.Type, b[i], r[i])
			}
		}
	}
	if ts := binlog[2][binSchema.ColumnIndex("ts")]; ts != time.Date(2038, 1, 19, 3, 14, 7, 499e6, time.UTC) {
		t.Errorf("TIMESTAMP '2038-01-19 05:14:07.499' at +02:00 decoded as %v", ts)
	}
}
