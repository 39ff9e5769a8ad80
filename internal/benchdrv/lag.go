package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/capture"
)

// lagSample is one paced transaction of the lag phase.
type lagSample struct {
	sent, committed time.Time
}

// lag measures commit-to-visible latency under a steady write rate with
// the caught-up tidemark p running.
//
// The writer runs one UPDATE of lagRows orders per transaction (autocommit)
// on a fixed schedule, notes when the statement was sent and when its
// commit returned, then reads the transaction's GTID (@@last_gtid). The
// observer learns of every checkpoint move from a Redis keyspace
// notification on the views' meta hashes (hset events), then reads the
// three checkpoints in one round trip: a transaction is visible once every
// view's checkpoint carries its GTID sequence number or a later one, and
// its visible time is when that read returned (an upper bound). Go's
// timers cannot sleep below about a millisecond here, so a sleeping poller
// would quantize the result, and a spinning one would take a core from the
// processes under test.
func (b *bench) lag(ctx context.Context, p *tidemark, rep *report) error {
	if err := b.rdb.ConfigSet(ctx, "notify-keyspace-events", "Kh").Err(); err != nil {
		return fmt.Errorf("enabling keyspace notifications: %w", err)
	}
	defer b.rdb.ConfigSet(context.WithoutCancel(ctx), "notify-keyspace-events", "")
	channels := make([]string, len(benchViews))
	for i, v := range benchViews {
		channels[i] = "__keyspace@0__:tm:{" + v + "}:meta"
	}
	sub := b.rdb.Subscribe(ctx, channels...)
	defer sub.Close()
	if _, err := sub.Receive(ctx); err != nil {
		return fmt.Errorf("subscribing to keyspace notifications: %w", err)
	}

	var mu sync.Mutex
	samples := map[int64]*lagSample{}
	visibleAt := map[int64]time.Time{}
	seen, err := b.minGTIDSeq(ctx)
	if err != nil {
		return err
	}
	octx, stopObserver := context.WithCancel(ctx)
	defer stopObserver()
	observerDone := make(chan error, 1)
	var rtts []time.Duration // the observer's reads, owned by it until observerDone
	go func() {
		msgs := sub.Channel(redis.WithChannelSize(1000))
		tick := time.NewTicker(5 * time.Millisecond) // in case a notification is lost
		defer tick.Stop()
		for {
			select {
			case <-octx.Done():
				observerDone <- nil
				return
			case <-msgs:
				// One read answers for every notification already here:
				// one per view meta written by the same apply.
				for len(msgs) > 0 {
					<-msgs
				}
			case <-tick.C:
			}
			t0 := time.Now()
			seq, err := b.minGTIDSeq(octx)
			rtts = append(rtts, time.Since(t0))
			if err != nil {
				if octx.Err() != nil {
					observerDone <- nil
					return
				}
				observerDone <- err
				return
			}
			if seq > seen {
				now := time.Now()
				mu.Lock()
				for s := seen + 1; s <= seq; s++ {
					visibleAt[s] = now
				}
				mu.Unlock()
				seen = seq
			}
		}
	}()

	// A second replica, in this process, timestamps each transaction as
	// capture.Stream delivers it: the share of the lag before the applier.
	stopCapture, err := b.captureTimes(ctx)
	if err != nil {
		return err
	}
	defer stopCapture()

	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	interval := time.Second / time.Duration(b.o.lagRate)
	n := int(b.o.lagSeconds * float64(b.o.lagRate))
	cpu := newCPUMeter([]string{"tidemark", "mariadbd", "redis-server"},
		[]int{p.pid(), pidFromFile(b.o.mariaPidFile), pidFromFile(b.o.redisPidFile)})
	m0, _ := b.scrape(ctx)
	// Redis's slow log with a zero threshold records how long each apply
	// script ran inside Redis.
	if err := b.rdb.ConfigSet(ctx, "slowlog-log-slower-than", "0").Err(); err != nil {
		return err
	}
	_ = b.rdb.ConfigSet(ctx, "slowlog-max-len", "100000").Err()
	_ = b.rdb.Do(ctx, "SLOWLOG", "RESET").Err()
	start := time.Now()
	behind := 0
	for i := range n {
		next := start.Add(time.Duration(i) * interval)
		if d := time.Until(next); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
		} else if -d > interval {
			behind++
		}
		id := 1 + int64(i*b.o.lagRows)%int64(max(1, b.o.seedOrders-b.o.lagRows))
		s := &lagSample{sent: time.Now()}
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(
			"UPDATE shop.orders SET amount = amount + 0.01, qty = qty + 1, status = 1 + (id + %d) %% 4 WHERE id BETWEEN %d AND %d",
			i, id, id+int64(b.o.lagRows)-1)); err != nil {
			return err
		}
		s.committed = time.Now()
		var gtid string
		if err := conn.QueryRowContext(ctx, "SELECT @@last_gtid").Scan(&gtid); err != nil {
			return err
		}
		seq, err := gtidSeq(gtid)
		if err != nil {
			return err
		}
		mu.Lock()
		samples[seq] = s
		mu.Unlock()
	}
	wrote := time.Since(start)
	cpu.stop()
	m1, _ := b.scrape(ctx)
	slow, err := b.rdb.SlowLogGet(ctx, 100000).Result()
	if err != nil {
		return err
	}
	_ = b.rdb.ConfigSet(ctx, "slowlog-log-slower-than", "10000").Err()
	_ = b.rdb.ConfigSet(ctx, "slowlog-max-len", "128").Err()
	var scripts []time.Duration
	var scriptTotal time.Duration
	byKey := map[string][]time.Duration{} // KEYS[1]: the view's meta key
	for _, e := range slow {
		if len(e.Args) > 3 && strings.EqualFold(e.Args[0], "evalsha") && e.Time.After(start) {
			scripts = append(scripts, e.Duration)
			scriptTotal += e.Duration
			byKey[e.Args[3]] = append(byKey[e.Args[3]], e.Duration)
		}
	}
	// Wait for the last transactions to become visible.
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		missing := 0
		for seq := range samples {
			if _, ok := visibleAt[seq]; !ok {
				missing++
			}
		}
		mu.Unlock()
		if missing == 0 {
			break
		}
		select {
		case err := <-observerDone:
			return fmt.Errorf("observer ended: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d transactions not visible 30s after the last commit", missing)
		}
		if err := sleep(ctx, 10*time.Millisecond); err != nil {
			return err
		}
	}
	stopObserver()
	if err := <-observerDone; err != nil {
		return err
	}

	capturedAt := stopCapture()
	var fromCommit, fromSend, toCapture []time.Duration
	early := 0
	for seq, s := range samples {
		if c, ok := capturedAt[seq]; ok {
			toCapture = append(toCapture, c.Sub(s.committed))
		}
		v := visibleAt[seq]
		d := v.Sub(s.committed)
		if d < 0 {
			early++
		}
		fromCommit = append(fromCommit, d)
		fromSend = append(fromSend, v.Sub(s.sent))
	}
	slices.Sort(fromCommit)
	slices.Sort(fromSend)
	rate := float64(len(samples)) / wrote.Seconds()
	rep.add("lag", "load", fmt.Sprintf("%.0f txns/s × %d rows", rate, b.o.lagRows), "2,000 row changes/s",
		fmt.Sprintf("%s row changes/s for %s; %d txns started late", fmtRate(rate*float64(b.o.lagRows)), fmtDur(wrote), behind))
	rep.lagP50, rep.lagP99 = pct(fromCommit, 50), pct(fromCommit, 99)
	rep.add("lag", "commit→visible p50", fmtMs(pct(fromCommit, 50)), "≤ 1 ms", fmt.Sprintf("%d samples; visible = all 3 views' checkpoints", len(fromCommit)))
	rep.add("lag", "commit→visible p99", fmtMs(pct(fromCommit, 99)), "≤ 5 ms", "")
	rep.add("lag", "commit→visible max", fmtMs(fromCommit[len(fromCommit)-1]), "", fmt.Sprintf("min %s; %d seen before COMMIT returned", fmtMs(fromCommit[0]), early))
	slices.Sort(toCapture)
	if len(toCapture) > 0 {
		rep.add("lag", "  of which commit→capture.Stream delivered p50 / p99", fmtMs(pct(toCapture, 50))+" / "+fmtMs(pct(toCapture, 99)), "",
			fmt.Sprintf("a second replica in the driver, beside tidemark: MariaDB's dump thread, go-mysql, capture; %d samples", len(toCapture)))
	}
	if n := m1["tidemark_apply_duration_seconds_count"] - m0["tidemark_apply_duration_seconds_count"]; n > 0 {
		sum := m1["tidemark_apply_duration_seconds_sum"] - m0["tidemark_apply_duration_seconds_sum"]
		rep.add("lag", "  of which applying (tidemark_apply_duration_seconds), mean", fmtMs(time.Duration(sum/n*float64(time.Second))), "",
			fmt.Sprintf("%.0f batches for %d transactions: accumulate and the Redis round trip", n, len(samples)))
	}
	matched := m1[`tidemark_apply_known_fields_total{outcome="matched"}`] - m0[`tidemark_apply_known_fields_total{outcome="matched"}`]
	added := m1[`tidemark_apply_known_fields_total{outcome="added"}`] - m0[`tidemark_apply_known_fields_total{outcome="added"}`]
	if matched+added > 0 {
		rep.add("lag", "  aggregate fields stored from sums computed in Go", fmt.Sprintf("%.1f%%", 100*matched/(matched+added)), "",
			fmt.Sprintf("tidemark_apply_known_fields_total: %.0f matched, %.0f added in Lua", matched, added))
	}
	if len(scripts) > 0 {
		slices.Sort(scripts)
		rep.add("lag", "  of which Redis running the apply scripts, per script call p50 / p99", fmtMs(pct(scripts, 50))+" / "+fmtMs(pct(scripts, 99)), "",
			fmt.Sprintf("SLOWLOG at threshold 0: %d EVALSHA (on one Redis, one call applies all views), %s per transaction on average", len(scripts), fmtMs(scriptTotal/time.Duration(len(samples)))))
		keys := make([]string, 0, len(byKey))
		for k := range byKey {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var parts []string
		for _, k := range keys {
			ds := byKey[k]
			slices.Sort(ds)
			parts = append(parts, fmt.Sprintf("%s %s", k, fmtMs(pct(ds, 50))))
		}
		rep.add("lag", "  apply script call p50 by first key", fmt.Sprint(len(keys))+" keys", "", strings.Join(parts, ", "))
	}
	slices.Sort(rtts)
	rep.add("lag", "observer's checkpoint read (included above) p50 / p99", fmtMs(pct(rtts, 50))+" / "+fmtMs(pct(rtts, 99)), "",
		fmt.Sprintf("one round trip of 3 pipelined HGETs after each burst of notifications; %d reads", len(rtts)))
	rep.add("lag", "statement sent→visible p50 / p99", fmtMs(pct(fromSend, 50))+" / "+fmtMs(pct(fromSend, 99)), "", "includes the UPDATE's own execution")
	for i, name := range cpu.names {
		if cpu.pids[i] != 0 {
			rep.add("lag", "CPU "+name, fmt.Sprintf("%.2f cores", cpu.cores(i)), "", "")
		}
	}
	return nil
}

// minGTIDSeq is the smallest GTID sequence number among the views'
// checkpoints (MariaDB GTID domain-server-seq; one domain and server here).
func (b *bench) minGTIDSeq(ctx context.Context) (int64, error) {
	ps, err := b.checkpoints(ctx)
	if err != nil {
		return 0, err
	}
	var m int64 = -1
	for i, p := range ps {
		if p.GTID == "" {
			return 0, fmt.Errorf("checkpoint of view %s has no GTID", benchViews[i])
		}
		s, err := gtidSeq(p.GTID)
		if err != nil {
			return 0, err
		}
		if m < 0 || s < m {
			m = s
		}
	}
	return m, nil
}

func gtidSeq(gtid string) (int64, error) {
	i := strings.LastIndexByte(gtid, '-')
	if i < 0 || strings.Contains(gtid, ",") {
		return 0, fmt.Errorf("GTID %q: want one domain-server-seq", gtid)
	}
	return strconv.ParseInt(gtid[i+1:], 10, 64)
}

// pct is the q-th percentile (nearest rank) of sorted ds.
func pct(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	i := int(q/100*float64(len(ds)) + 0.5)
	i = min(max(i-1, 0), len(ds)-1)
	return ds[i]
}

// captureTimes runs capture.Stream from the source's current position and
// records when each transaction (by GTID sequence number) arrives. stop
// ends the stream and returns the times; it may be called more than once.
func (b *bench) captureTimes(ctx context.Context) (stop func() map[int64]time.Time, err error) {
	from, err := b.position(ctx)
	if err != nil {
		return nil, err
	}
	c, err := capture.New(capture.Config{
		Flavor: capture.FlavorMariaDB, Host: "127.0.0.1", Port: b.o.mariaPort, User: "root",
		ServerID: 4346, Databases: []string{"shop"},
	})
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	ch := make(chan *formats.Txn, 4096)
	streamDone := make(chan struct{})
	go func() {
		_ = c.Stream(sctx, from, ch)
		close(streamDone)
	}()
	times := map[int64]time.Time{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		for {
			select {
			case t := <-ch:
				now := time.Now()
				if seq, err := gtidSeq(t.Pos.GTID); err == nil && len(t.Events) > 0 {
					times[seq] = now
				}
			case <-streamDone:
				return
			}
		}
	}()
	var once sync.Once
	return func() map[int64]time.Time {
		once.Do(func() {
			cancel()
			<-readDone
			_ = c.Close()
		})
		return times
	}, nil
}
