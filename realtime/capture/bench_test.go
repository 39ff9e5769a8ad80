package capture

import (
	"context"
	"fmt"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
)

// BenchmarkDecode measures how fast a binlog backlog is read with nothing
// applied: the ceiling of any catch-up. The backlog is 200 transactions of
// 1,000 inserted rows of an orders-like table (8 columns: integers, ENUM,
// DECIMAL, DOUBLE, DATETIME(6), VARCHAR).
//
//   - gomysql: go-mysql's BinlogSyncer decoding every row (its goroutine)
//     and this goroutine counting them: the library's raw rate.
//   - stream: Capture.Stream, rows also converted to canonical values and
//     grouped into formats.Txn, read off the channel.
func BenchmarkDecode(b *testing.B) {
	const txns, perTxn = 200, 1000
	s := newSource(b, func(c *Config) { c.Logger = nil })
	s.exec(b, `CREATE TABLE shop.orders (
		id BIGINT NOT NULL PRIMARY KEY, customer_id BIGINT NOT NULL,
		status ENUM('new','paid','shipped','cancelled') NOT NULL, amount DECIMAL(12,2) NULL,
		qty INT NOT NULL, discount DOUBLE NULL, created_at DATETIME(6) NOT NULL,
		note VARCHAR(200) CHARACTER SET utf8mb4 NULL)`)
	from := s.pos(b)
	for i := range txns {
		s.exec(b, fmt.Sprintf(`INSERT INTO shop.orders SELECT seq, seq %% 977, 1 + seq %% 4, seq / 100, seq %% 13,
			seq / 7, '2024-01-01 00:00:00' + INTERVAL seq SECOND, CONCAT('note ', seq) FROM shop.seq_%d_to_%d`,
			i*perTxn+1, (i+1)*perTxn))
	}
	const rows = txns * perTxn

	b.Run("gomysql", func(b *testing.B) {
		for b.Loop() {
			syncer := replication.NewBinlogSyncer(s.c.syncerConfig())
			st, err := syncer.StartSync(gomysql.Position{Name: from.File, Pos: from.Offset})
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for {
				ev, err := st.GetEvent(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				if re, ok := ev.Event.(*replication.RowsEvent); ok {
					n += len(re.Rows)
				}
				if n == rows {
					break
				}
			}
			syncer.Close()
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	})

	// stream_policy is stream with a column policy (note excluded,
	// customer_id masked: one HMAC-SHA256 per row), beside stream in the
	// same run; stream itself has none, the path every source without a
	// policy takes.
	pcfg := s.c.cfg
	pcfg.Columns = ColumnPolicy{
		Exclude: []ColumnRef{{Table: s.table("orders"), Column: "note"}},
		Mask:    []ColumnRef{{Table: s.table("orders"), Column: "customer_id"}},
		MaskKey: []byte("bench key, 32 bytes long, really"),
	}
	pc, err := New(pcfg)
	if err != nil {
		b.Fatal(err)
	}
	defer pc.Close()
	for _, bc := range []struct {
		name string
		c    *Capture
	}{{"stream", s.c}, {"stream_policy", pc}} {
		b.Run(bc.name, func(b *testing.B) { benchStream(b, bc.c, from, rows) })
	}
}

// benchStream reads rows row changes from Stream(from) per iteration.
func benchStream(b *testing.B, c *Capture, from formats.Position, rows int) {
	{
		for b.Loop() {
			ctx, cancel := context.WithCancel(context.Background())
			out := make(chan *formats.Txn, 64)
			done := make(chan error, 1)
			go func() { done <- c.Stream(ctx, from, out) }()
			n := 0
			for n < rows {
				select {
				case txn := <-out:
					n += len(txn.Events)
				case err := <-done:
					b.Fatal(err)
				case <-time.After(time.Minute):
					b.Fatal("stalled")
				}
			}
			cancel()
			<-done
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
	}
}
