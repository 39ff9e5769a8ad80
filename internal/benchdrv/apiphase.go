package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tidemark/tidemark/internal/workload"
)

// The API phase: the reporting API's latency under an open-loop request
// rate while the speed layer applies a steady stream of row changes.
//
// It runs on its own database (apiDB) with its own views (names starting
// "api_"), so it shares nothing with the other phases but the servers, and
// its own `tidemark run --roles speed,api`, whose peak RSS it reports.
//
// The load driver is open loop: request i is due at start + i/rate, and its
// latency is measured from that due time, not from when a worker got to
// send it, so a stalled server shows as latency of every request it made
// wait (coordinated omission is counted, as wrk2 does).

const apiDB = "apishop"

// apiViews are the phase's views: a 1,000-group aggregate (one group per
// customer), a ~1,100-group one (day × status) to slice, and the customers
// mirror to join.
const apiViews = `
  - name: api_by_customer
    from: apishop.orders
    group_by: [customer_id]
    measures: ["count() AS orders", "sum(amount) AS revenue", "avg(qty) AS avg_qty"]
  - name: api_revenue_by_day
    from: apishop.orders
    where: "status <> 'cancelled'"
    group_by: ["day(created_at) AS day", "status"]
    measures: ["count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount"]
  - name: api_customers
    from: apishop.customers
    mirror: true
`

// apiQuery is one measured request shape.
type apiQuery struct{ name, path string }

var apiQueries = []apiQuery{
	{"whole view, 1,000 groups", "/v1/views/api_by_customer"},
	{"slice, 31 rows", "/v1/views/api_revenue_by_day?status=paid&day.from=2024-03-01&day.to=2024-03-31"},
	{"join 1,000 customers, group_by country", "/v1/views/api_by_customer?join=api_customers:customer_id&group_by=api_customers.country"},
}

const (
	apiCustomers = 1000
	apiOrders    = 100000
	apiTxnRows   = 10 // row changes per writer transaction
)

// apiPhase runs the phase when o.apiSeconds > 0; see the file comment.
func (b *bench) apiPhase(ctx context.Context, rep *report) error {
	if b.o.apiSeconds <= 0 {
		return nil
	}
	progress("api: seeding %s (%d customers, %d orders)", apiDB, apiCustomers, apiOrders)
	if err := b.apiSeed(ctx); err != nil {
		return fmt.Errorf("seeding %s: %w", apiDB, err)
	}
	// Leave nothing behind for the later phases (Redis memory is measured
	// against the empty server); deferred first, so it runs after the
	// process is stopped.
	defer func() {
		if err := b.apiDrop(context.WithoutCancel(ctx)); err != nil {
			progress("api: cleaning up: %v", err)
		}
	}()
	port, err := freePort()
	if err != nil {
		return err
	}
	cfg, err := b.apiConfig(port)
	if err != nil {
		return err
	}
	logPath := filepath.Join(b.o.dir, "tidemark-api.log")
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(b.o.bin, "run", "-c", cfg, "--roles", "speed,api")
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("starting %s: %w", b.o.bin, err)
	}
	p := &tidemark{cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	defer p.kill()
	rss := sampleRSS(p.pid(), 100*time.Millisecond)
	defer rss.stop()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true, IdleConnTimeout: time.Minute,
	}}
	defer client.CloseIdleConnections()
	start := time.Now()
	for _, q := range apiQueries {
		for {
			code, err := apiGet(ctx, client, base+q.path)
			if err == nil && code == http.StatusOK {
				break
			}
			if err := p.alive(); err != nil {
				return err
			}
			if time.Since(start) > 3*time.Minute {
				return fmt.Errorf("%s not answering 200 after 3 minutes (last %d, %v; log %s)", q.path, code, err, logPath)
			}
			if err := sleep(ctx, 100*time.Millisecond); err != nil {
				return err
			}
		}
	}
	rep.add("api", "bootstrap to every query answered", fmtDur(time.Since(start)), "", "")

	wctx, stopWriter := context.WithCancel(ctx)
	var written atomic.Int64
	werr := make(chan error, 1)
	wstart := time.Now()
	go func() { werr <- b.apiWriter(wctx, &written) }()
	stopW := func() (float64, error) {
		stopWriter()
		err := <-werr
		if errors.Is(err, context.Canceled) {
			err = nil
		}
		return float64(written.Load()) / time.Since(wstart).Seconds(), err
	}
	// Let the speed layer settle into the write load (its first batches
	// after the bootstrap) before anything is measured.
	if err := sleep(ctx, 3*time.Second); err != nil {
		stopW()
		return err
	}
	dur := time.Duration(b.o.apiSeconds * float64(time.Second))
	for _, q := range apiQueries {
		progress("api: %s at %d req/s for %s, %d row changes/s meanwhile", q.name, b.o.apiRate, dur, b.o.apiWriteRate)
		// An unmeasured warm-up fills connections and caches.
		runLoad(ctx, client, base+q.path, b.o.apiRate, 2*time.Second)
		before := apiMetrics(ctx, client, base)
		res := runLoad(ctx, client, base+q.path, b.o.apiRate, dur)
		after := apiMetrics(ctx, client, base)
		computed := after["tidemark_api_answer_compute_seconds_count"] - before["tidemark_api_answer_compute_seconds_count"]
		took := after["tidemark_api_answer_compute_seconds_sum"] - before["tidemark_api_answer_compute_seconds_sum"]
		rep.add("api", q.name+": p50 / p99 / max",
			fmt.Sprintf("%s / %s / %s", fmtMs(res.pct(0.50)), fmtMs(res.pct(0.99)), fmtMs(res.pct(1))),
			"≤ 1 ms / ≤ 5 ms",
			fmt.Sprintf("%s req/s done of %d scheduled; %d errors; %s per answer; %.0f answers computed, %.1f ms each on average",
				fmtRate(res.achieved), b.o.apiRate, res.errors, fmtBytes(res.bytes/max(1, int64(len(res.lat)))),
				computed, 1000*took/max(1, computed)))
		if err := p.alive(); err != nil {
			stopW()
			return err
		}
	}
	wrate, err := stopW()
	if err != nil {
		return fmt.Errorf("writing during the API phase: %w", err)
	}
	rep.add("api", "row changes applied meanwhile", fmtRate(wrate)+"/s", fmt.Sprintf("%s/s", fmtInt(int64(b.o.apiWriteRate))), fmt.Sprintf("%d-row UPDATE transactions", apiTxnRows))
	peak, _ := rss.stop()
	_, hwm, _ := procStatus(p.pid())
	rep.add("api", "tidemark peak RSS", fmtMiB(max(peak, hwm)), "≤ 256 MiB", "speed and api roles, VmHWM")
	code, err := p.term(60 * time.Second)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("tidemark exited %d after SIGTERM (log %s)", code, logPath)
	}
	return nil
}

// apiSeed creates apiDB afresh with the shop schema, 1,000 customers and
// 100,000 orders spread over them and over 2024, with none of the phase's
// views in Redis (a rerun on the same servers bootstraps them again).
func (b *bench) apiSeed(ctx context.Context) error {
	if err := b.apiDrop(ctx); err != nil {
		return err
	}
	if err := workload.CreateSchema(ctx, b.db, apiDB); err != nil {
		return err
	}

	if _, err := b.db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s.customers (id, name, country, created_at)
SELECT seq, CONCAT('customer ', seq), ELT(1 + seq %% 12, 'US','FR','DE','GB','JP','BR','IN','CA','ES','IT','NL','SE'),
  TIMESTAMP'2023-01-01 00:00:00' + INTERVAL seq MINUTE
FROM %s.seq_0_to_%d`, apiDB, apiDB, apiCustomers-1)); err != nil {
		return err
	}
	const chunk = 10000
	for id := 1; id <= apiOrders; id += chunk {
		if _, err := b.db.ExecContext(ctx, fmt.Sprintf(`INSERT INTO %s.orders (id, customer_id, status, amount, qty, discount, created_at, note)
SELECT seq, (seq * 7919) %% %d, 1 + (seq * 31) %% 4,
  IF(seq %% 50 = 0, NULL, ((seq * 131) %% 100000) / 100), 1 + seq %% 13, IF(seq %% 5 = 0, NULL, (seq %% 1000) / 1000),
  TIMESTAMP'2024-01-01 00:00:00' + INTERVAL ((seq * 7919) %% 31536000) SECOND, NULL
FROM %s.seq_%d_to_%d`, apiDB, apiCustomers, apiDB, id, min(id+chunk-1, apiOrders))); err != nil {
			return err
		}
	}
	return nil
}

// apiDrop drops apiDB and deletes the phase's views' keys from Redis.
func (b *bench) apiDrop(ctx context.Context) error {
	if _, err := b.db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+apiDB); err != nil {
		return err
	}
	var keys []string
	iter := b.rdb.Scan(ctx, 0, "tm:{api_*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return err
	}
	for _, k := range keys {
		if err := b.rdb.Del(ctx, k).Err(); err != nil {
			return err
		}
	}
	return nil
}

// apiConfig writes the phase's tidemark config and returns its path.
func (b *bench) apiConfig(port int) (string, error) {
	cfg := fmt.Sprintf(`sources:
  - name: api
    flavor: mariadb
    host: 127.0.0.1
    port: %d
    user: root
    server_id: 4244
    databases: [%s]
redis:
  addr: 127.0.0.1:%d
lake:
  root: file://%s/lake-api
api:
  listen: 127.0.0.1:%d
metrics:
  listen: ""
log:
  level: info
views:%s`, b.o.mariaPort, apiDB, b.o.redisPort, b.o.dir, port, apiViews)
	path := filepath.Join(b.o.dir, "tidemark-api.yaml")
	return path, os.WriteFile(path, []byte(cfg), 0o644)
}

// apiWriter changes apiWriteRate rows per second until ctx ends:
// transactions of apiTxnRows order updates (amount, and status, which
// moves rows between groups and in and out of the sliced view), on a fixed
// schedule; one transaction in 20 also moves a customer to another
// country, so the joined mirror changes too. It counts the rows changed.
func (b *bench) apiWriter(ctx context.Context, written *atomic.Int64) error {
	conn, err := b.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	txnsPerSec := max(1, b.o.apiWriteRate/apiTxnRows)
	period := time.Second / time.Duration(txnsPerSec)
	next := time.Now()
	for k := 0; ; k++ {
		if d := time.Until(next); d > 0 {
			if err := sleep(ctx, d); err != nil {
				return err
			}
		} else if ctx.Err() != nil {
			return ctx.Err()
		}
		next = next.Add(period)
		id := 1 + (k*7919*apiTxnRows)%(apiOrders-apiTxnRows)
		res, err := conn.ExecContext(ctx, fmt.Sprintf(
			"UPDATE %s.orders SET amount = amount + 0.01, status = 1 + (id + %d) %% 4 WHERE id BETWEEN %d AND %d",
			apiDB, k, id, id+apiTxnRows-1))
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		written.Add(n)
		if k%20 == 0 {
			res, err := conn.ExecContext(ctx, fmt.Sprintf(
				"UPDATE %s.customers SET country = ELT(1 + %d %% 12, 'US','FR','DE','GB','JP','BR','IN','CA','ES','IT','NL','SE') WHERE id = %d",
				apiDB, k, (k*31)%apiCustomers))
			if err != nil {
				return err
			}
			n, _ := res.RowsAffected()
			written.Add(n)
		}
	}
}

// apiMetrics scrapes the API's /metrics: every unlabelled sample, and the
// answer cache counters as name{result="x"}. Failures give an empty map
// (the figures it feeds are notes, not results).
func apiMetrics(ctx context.Context, client *http.Client, base string) map[string]float64 {
	out := map[string]float64{}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return out
	}
	resp, err := client.Do(req)
	if err != nil {
		return out
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(body), "\n") {
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") {
			continue
		}
		var f float64
		if _, err := fmt.Sscan(val, &f); err == nil {
			out[name] = f
		}
	}
	return out
}

func apiGet(ctx context.Context, client *http.Client, url string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}

// loadResult is one open-loop run.
type loadResult struct {
	lat      []time.Duration // sorted
	errors   int
	bytes    int64
	achieved float64 // answers per second of wall time
}

// pct returns the q quantile of the latencies (q = 1: the maximum).
func (r loadResult) pct(q float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	i := int(q * float64(len(r.lat)))
	return r.lat[min(i, len(r.lat)-1)]
}

// runLoad sends GET url at rate requests per second for dur, open loop:
// request i is due at start + i/rate whether or not earlier ones have been
// answered, and its latency runs from that due time to the end of its
// body. A pool of workers sends them; when every worker is busy the due
// requests wait, and that wait is part of their latency.
func runLoad(ctx context.Context, client *http.Client, url string, rate int, dur time.Duration) loadResult {
	n := int(float64(rate) * dur.Seconds())
	due := make(chan time.Time, n)
	const workers = 128
	type workerOut struct {
		lat    []time.Duration
		errors int
		bytes  int64
	}
	outs := make([]workerOut, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o := &outs[w]
			for t := range due {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				if err != nil {
					o.errors++
					continue
				}
				resp, err := client.Do(req)
				if err != nil {
					o.errors++
					continue
				}
				nb, err := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					o.errors++
					continue
				}
				o.bytes += nb
				o.lat = append(o.lat, time.Since(t))
			}
		}()
	}
	start := time.Now().Add(5 * time.Millisecond)
	period := time.Second / time.Duration(rate)
	for i := 0; i < n && ctx.Err() == nil; i++ {
		t := start.Add(time.Duration(i) * period)
		if d := time.Until(t); d > 0 {
			time.Sleep(d)
		}
		due <- t
	}
	close(due)
	wg.Wait()
	elapsed := time.Since(start)
	var r loadResult
	for _, o := range outs {
		r.lat = append(r.lat, o.lat...)
		r.errors += o.errors
		r.bytes += o.bytes
	}
	slices.Sort(r.lat)
	r.achieved = float64(len(r.lat)) / elapsed.Seconds()
	return r
}
