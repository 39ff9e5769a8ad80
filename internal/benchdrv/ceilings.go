package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/apply"
	"github.com/tidemark/tidemark/realtime/capture"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// ceilings decodes the backlog three ways with nothing applied to Redis,
// each stage adding one layer of Tidemark's work (see doc.go).
func (b *bench) ceilings(ctx context.Context, bl *backlog, rep *report) error {
	mariaPid := pidFromFile(b.o.mariaPidFile)
	stage := func(name, note string, f func() (float64, error)) (float64, error) {
		cpu := newCPUMeter([]string{"driver", "mariadbd"}, []int{os.Getpid(), mariaPid})
		rate, err := f()
		if err != nil {
			return 0, err
		}
		cpu.stop()
		cost := fmt.Sprintf("%.1f µs CPU per row change in the driver (%.2f cores)",
			1e6*cpu.used[0].Seconds()/float64(bl.rows), cpu.cores(0))
		if mariaPid != 0 {
			cost += fmt.Sprintf(", %.1f µs in mariadbd", 1e6*cpu.used[1].Seconds()/float64(bl.rows))
		}
		if note != "" {
			cost = note + "; " + cost
		}
		rep.add("ceiling", name, fmtRate(rate)+" rows/s", "", cost)
		rep.ceilCPU = append(rep.ceilCPU, cpu.used[0].Seconds()/float64(bl.rows))
		return rate, nil
	}
	var err error
	rep.ceilRaw, err = stage("go-mysql BinlogSyncer decode (no apply)",
		"the loop of realtime/capture BenchmarkDecode/gomysql, over this backlog",
		func() (float64, error) { return b.rawDecode(ctx, bl) })
	if err != nil {
		return fmt.Errorf("go-mysql decode: %w", err)
	}
	if b.o.cpuProfile != "" {
		f, err := os.Create(b.o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep.ceilStream, err = stage("capture.Stream (decode + canonical values + txns)", "",
		func() (float64, error) { return b.streamDecode(ctx, bl, false) })
	if err != nil {
		return fmt.Errorf("capture.Stream: %w", err)
	}
	rep.ceilGo, err = stage("capture.Stream + apply.Applier, null store",
		"all of Tidemark's Go work but encoding and sending the Redis call (3 views)",
		func() (float64, error) { return b.streamDecode(ctx, bl, true) })
	if err != nil {
		return fmt.Errorf("capture.Stream + apply to a null store: %w", err)
	}
	return nil
}

// syncerConfig mirrors the capture's BinlogSyncer settings (values as
// formats.FromBinlog expects them), so the raw rate is the library's rate
// on the same work.
func (b *bench) syncerConfig(serverID uint32) replication.BinlogSyncerConfig {
	return replication.BinlogSyncerConfig{
		ServerID: serverID, Flavor: gomysql.MariaDBFlavor,
		Host: "127.0.0.1", Port: uint16(b.o.mariaPort), User: "root",
		DisableRetrySync:        true,
		ParseTime:               false,
		UseDecimal:              false,
		TimestampStringLocation: time.UTC,
		RenderJSONAsMySQLText:   true,
		FillZeroLogPos:          true,
		DiscardGTIDSet:          true,
		Logger:                  discardLogger(),
	}
}

// rawDecode reads (start, end] with go-mysql alone and counts row changes
// (an UPDATE's before and after images are one change).
func (b *bench) rawDecode(ctx context.Context, bl *backlog) (float64, error) {
	rate, _, err := b.rawDecodeTo(ctx, bl)
	return rate, err
}

// rawDecodeTo is rawDecode, and when bl.rows is 0 (a writer that cannot
// count its row changes: sysbench) it decodes up to bl.end and returns the
// row changes it found.
func (b *bench) rawDecodeTo(ctx context.Context, bl *backlog) (float64, int64, error) {
	syncer := replication.NewBinlogSyncer(b.syncerConfig(4344))
	defer syncer.Close()
	start := time.Now()
	st, err := syncer.StartSync(gomysql.Position{Name: bl.start.File, Pos: bl.start.Offset})
	if err != nil {
		return 0, 0, err
	}
	var rows int64
	file := bl.start.File
	for {
		ev, err := st.GetEvent(ctx)
		if err != nil {
			return 0, 0, err
		}
		if r, ok := ev.Event.(*replication.RotateEvent); ok {
			file = string(r.NextLogName)
		}
		if bl.rows == 0 && file == bl.end.File && ev.Header.LogPos >= bl.end.Offset {
			return float64(rows) / time.Since(start).Seconds(), rows, nil
		}
		if re, ok := ev.Event.(*replication.RowsEvent); ok {
			switch ev.Header.EventType {
			case replication.UPDATE_ROWS_EVENTv1, replication.UPDATE_ROWS_EVENTv2, replication.MARIADB_UPDATE_ROWS_COMPRESSED_EVENT_V1:
				rows += int64(len(re.Rows) / 2)
			default:
				rows += int64(len(re.Rows))
			}
		}
		if bl.rows > 0 && rows >= bl.rows {
			took := time.Since(start)
			if rows != bl.rows {
				return 0, 0, fmt.Errorf("decoded %d rows, the writer committed %d", rows, bl.rows)
			}
			return float64(rows) / took.Seconds(), rows, nil
		}
	}
}

// streamDecode runs capture.Stream over (start, end] and, with withApply,
// an apply.Applier on its output whose store discards the batches.
func (b *bench) streamDecode(ctx context.Context, bl *backlog, withApply bool) (float64, error) {
	c, err := capture.New(capture.Config{
		Flavor: capture.FlavorMariaDB, Host: "127.0.0.1", Port: b.o.mariaPort, User: "root",
		ServerID: 4345, Databases: []string{"shop"},
	})
	if err != nil {
		return 0, err
	}
	defer c.Close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	runtime.GC()
	start := time.Now()
	ch := make(chan *formats.Txn, 4096) // the pipeline's default channel
	streamErr := make(chan error, 1)
	go func() { streamErr <- c.Stream(sctx, bl.start, ch) }()

	if !withApply {
		var rows int64
		for {
			select {
			case t := <-ch:
				rows += int64(len(t.Events))
				if !t.Pos.Less(bl.end) {
					took := time.Since(start)
					if rows != bl.rows {
						return 0, fmt.Errorf("streamed %d rows, the writer committed %d", rows, bl.rows)
					}
					return float64(rows) / took.Seconds(), nil
				}
			case err := <-streamErr:
				return 0, fmt.Errorf("stream ended: %w", err)
			}
		}
	}
	ns := &nullStore{from: bl.start, until: bl.end, reached: make(chan struct{})}
	a, err := apply.New(ns, ch, apply.Config{Views: b.views, Metrics: ns})
	if err != nil {
		return 0, err
	}
	applyErr := make(chan error, 1)
	go func() { applyErr <- a.Run(sctx) }()
	select {
	case <-ns.reached:
		took := time.Since(start)
		if ns.rows != bl.rows {
			return 0, fmt.Errorf("applied %d rows, the writer committed %d", ns.rows, bl.rows)
		}
		return float64(ns.rows) / took.Seconds(), nil
	case err := <-applyErr:
		return 0, fmt.Errorf("applier ended: %w", err)
	case err := <-streamErr:
		return 0, fmt.Errorf("stream ended: %w", err)
	}
}

// nullStore is an apply.Store that accepts every batch and keeps nothing:
// the applier's Go work (binding, pre-aggregation, mirror rows as JSON)
// without Redis. It is also the applier's Metrics, to count the row
// changes applied; both are called from the applier's goroutine only.
type nullStore struct {
	from, until formats.Position
	last        formats.Position // end of the last batch
	rows        int64            // row changes applied
	reached     chan struct{}    // closed once last >= until
	done        bool
}

var (
	_ apply.Store   = (*nullStore)(nil)
	_ apply.Metrics = (*nullStore)(nil)
)

func (n *nullStore) Meta(ctx context.Context, view string) (redisview.Meta, error) {
	return redisview.Meta{Checkpoint: n.from}, nil
}

func (n *nullStore) ApplyAll(ctx context.Context, aggs []redisview.AggApply, mirrors []redisview.MirrorApply) []error {
	for _, m := range mirrors {
		n.last = m.To
	}
	for _, a := range aggs {
		n.last = a.To
	}
	return make([]error, len(aggs)+len(mirrors))
}

func (n *nullStore) EventsApplied(formats.TableID, formats.Op, int) {}
func (n *nullStore) Lag(time.Duration)                              {}
func (n *nullStore) KnownFields(matched, added int)                 {}

func (n *nullStore) BatchApplied(txns, events int, took time.Duration) {
	n.rows += int64(events)
	if !n.done && !n.last.Less(n.until) {
		n.done = true
		close(n.reached)
	}
}
