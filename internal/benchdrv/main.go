package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"
)

// options are the driver's flags.
type options struct {
	mariaPort, redisPort int
	mariaPidFile         string // DIR/pid of scripts/mariadb.sh, for CPU accounting
	redisPidFile         string
	bin                  string // bin/tidemark
	dir                  string // work dir: config, logs, profiles

	seedOrders    int // rows before the bootstrap
	txns          int // backlog transactions
	insertsPerTxn int // 1,000-row INSERT statements per transaction
	updatesPerTxn int // 1,000-row UPDATE statements per transaction
	stmtRows      int

	lagSeconds float64
	lagRate    int // transactions per second
	lagRows    int // row changes per transaction

	cpuProfile  string // profile of the in-process Go ceiling stages
	verify      string // all | aggregates | none
	catchUpRuns int
	perf        bool // perf record tidemark and redis-server during the catch-up
	skipRedis   bool // skip redis-benchmark
	batchRows   int  // rows of the batch phase's table; 0 skips the phase

	apiSeconds            float64 // per query of the API phase; 0 skips it
	apiRate, apiWriteRate int     // requests/s, row changes/s
	apiOnly               bool    // run the API phase alone

	oltpTxns, oltpTables, oltpTableSize int // sysbench backlog; 0 txns skips the phase
	oltpThreads, oltpRuns               int
	oltpOnly                            bool // run the OLTP phase alone
	oltpCompare                         string
}

func main() {
	var o options
	flag.IntVar(&o.mariaPort, "maria-port", 0, "MariaDB `port` on 127.0.0.1 (user root, no password)")
	flag.IntVar(&o.redisPort, "redis-port", 0, "Redis `port` on 127.0.0.1")
	flag.StringVar(&o.mariaPidFile, "maria-pid", "", "`file` holding mariadbd's pid (CPU accounting; optional)")
	flag.StringVar(&o.redisPidFile, "redis-pid", "", "`file` holding redis-server's pid (CPU accounting; optional)")
	flag.StringVar(&o.bin, "bin", "bin/tidemark", "tidemark `binary`")
	flag.StringVar(&o.dir, "dir", "", "work `dir` for config, logs and profiles (default: a new temp dir)")
	flag.IntVar(&o.seedOrders, "seed-orders", 10000, "orders present at bootstrap")
	flag.IntVar(&o.txns, "txns", 200, "backlog transactions")
	flag.IntVar(&o.insertsPerTxn, "inserts", 3, "INSERT statements per backlog transaction")
	flag.IntVar(&o.updatesPerTxn, "updates", 2, "UPDATE statements per backlog transaction")
	flag.IntVar(&o.stmtRows, "stmt-rows", 1000, "rows per backlog statement")
	flag.Float64Var(&o.lagSeconds, "lag-seconds", 15, "duration of the lag phase")
	flag.IntVar(&o.lagRate, "lag-rate", 200, "transactions per second in the lag phase")
	flag.IntVar(&o.lagRows, "lag-rows", 10, "row changes per transaction in the lag phase")
	flag.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the in-process ceiling stages to `file`")
	flag.IntVar(&o.catchUpRuns, "catchup-runs", 2, "catch-up `runs` over the same backlog (the views are put back to the bootstrap state between runs)")
	flag.StringVar(&o.verify, "verify", "all", "`views` tidemark verify checks after the catch-up: all, aggregates (skips the 600k-row mirror) or none")
	flag.BoolVar(&o.perf, "perf", true, "profile tidemark and redis-server with `perf record` during the catch-up, if perf is installed")
	flag.BoolVar(&o.skipRedis, "skip-redis-benchmark", false, "skip the Redis ceilings (redis-benchmark and the Lua HSET loop)")
	flag.IntVar(&o.batchRows, "batch-rows", 10_000_000, "`rows` of the batch phase's table (extract and roll-forward rebuild); 0 skips the phase")
	flag.Float64Var(&o.apiSeconds, "api-seconds", 20, "measured `seconds` per query of the API phase (apiphase.go); 0 skips the phase")
	flag.IntVar(&o.apiRate, "api-rate", 2000, "open-loop requests per second of the API phase")
	flag.IntVar(&o.apiWriteRate, "api-write-rate", 2000, "row changes per second applied during the API phase")
	flag.BoolVar(&o.apiOnly, "api-only", false, "run only the API phase")
	flag.IntVar(&o.oltpTxns, "oltp-txns", 250000, "sysbench oltp_write_only `transactions` of the OLTP phase's backlog (oltpphase.go); 0 skips the phase")
	flag.IntVar(&o.oltpTables, "oltp-tables", 4, "sysbench tables of the OLTP phase")
	flag.IntVar(&o.oltpTableSize, "oltp-table-size", 200000, "rows per sysbench table")
	flag.IntVar(&o.oltpThreads, "oltp-threads", 8, "sysbench connections writing the OLTP backlog")
	flag.IntVar(&o.oltpRuns, "oltp-runs", 2, "catch-up `runs` over the OLTP backlog")
	flag.BoolVar(&o.oltpOnly, "oltp-only", false, "run only the OLTP phase")
	flag.StringVar(&o.oltpCompare, "oltp-compare", "", "another tidemark `binary` for the odd OLTP catch-up runs (a before/after comparison on one backlog)")
	flag.Parse()
	if o.catchUpRuns < 1 {
		o.catchUpRuns = 1
	}
	o.oltpRuns = max(o.oltpRuns, 1)
	if o.mariaPort == 0 || o.redisPort == 0 {
		fmt.Fprintln(os.Stderr, "benchdrv: -maria-port and -redis-port are required (scripts/bench.sh starts the servers)")
		os.Exit(2)
	}
	if o.dir == "" {
		d, err := os.MkdirTemp("", "tidemark-bench")
		if err != nil {
			fmt.Fprintln(os.Stderr, "benchdrv:", err)
			os.Exit(1)
		}
		o.dir = d
	}
	if abs, err := filepath.Abs(o.bin); err == nil {
		o.bin = abs
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep := &report{}
	err := run(ctx, o, rep)
	rep.print(os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchdrv:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options, rep *report) error {
	b, err := newBench(ctx, o)
	if err != nil {
		return err
	}
	defer b.close()
	rep.machine(b)
	// The API phase runs first, on its own database, views and process,
	// then the OLTP phase, likewise.
	if !o.oltpOnly {
		if err := b.apiPhase(ctx, rep); err != nil {
			return fmt.Errorf("measuring the API: %w", err)
		}
		if o.apiOnly {
			return nil
		}
	}
	if err := b.oltpPhase(ctx, rep); err != nil {
		return fmt.Errorf("measuring the OLTP catch-up: %w", err)
	}
	if o.oltpOnly {
		rep.summary()
		return nil
	}

	progress("bootstrap: seeding %d orders and bootstrapping the views", o.seedOrders)
	if err := b.bootstrap(ctx, rep); err != nil {
		return fmt.Errorf("bootstrapping: %w", err)
	}
	progress("backlog: %d transactions of %d statements × %d rows, Tidemark stopped", o.txns, o.insertsPerTxn+o.updatesPerTxn, o.stmtRows)
	boot, err := b.saveState(ctx)
	if err != nil {
		return fmt.Errorf("saving the bootstrap state: %w", err)
	}
	bl, err := b.writeBacklog(ctx, rep)
	if err != nil {
		return fmt.Errorf("writing the backlog: %w", err)
	}
	progress("ceilings: decoding the backlog without applying it")
	if err := b.ceilings(ctx, bl, rep); err != nil {
		return fmt.Errorf("measuring decode ceilings: %w", err)
	}
	var p *tidemark
	for run := 1; run <= o.catchUpRuns; run++ {
		if run > 1 {
			code, err := p.term(60 * time.Second)
			if err != nil {
				return err
			}
			if code != 0 {
				return fmt.Errorf("tidemark exited %d after SIGTERM (log %s)", code, p.logPath)
			}
			if err := b.restoreState(ctx, boot); err != nil {
				return fmt.Errorf("restoring the bootstrap state for catch-up run %d: %w", run, err)
			}
		}
		progress("catch-up %d/%d: tidemark run until every checkpoint reaches %s", run, o.catchUpRuns, bl.end)
		var st catchUpStats
		if p, st, err = b.catchUp(ctx, bl, fmt.Sprintf("catch-up %d", run), run == 1, rep); err != nil {
			return fmt.Errorf("measuring catch-up: %w", err)
		}
		defer p.kill()
		rep.catchUp = append(rep.catchUp, st.rate)
		rep.peakRSS = max(rep.peakRSS, st.hwm)
		rep.tidemarkCPU = append(rep.tidemarkCPU, st.tidemarkCPU)
		rep.redisCPU = append(rep.redisCPU, st.redisCPU)
	}
	if o.verify != "none" {
		progress("verify: tidemark verify (%s)", o.verify)
		if err := b.verify(ctx, rep); err != nil {
			return err
		}
	}
	progress("redis memory")
	if err := b.redisMemory(ctx, rep); err != nil {
		return fmt.Errorf("measuring Redis memory: %w", err)
	}
	progress("lag: %d txns/s × %d rows for %.0fs", o.lagRate, o.lagRows, o.lagSeconds)
	if err := b.lag(ctx, p, rep); err != nil {
		return fmt.Errorf("measuring lag: %w", err)
	}
	code, err := p.term(60 * time.Second)
	if err != nil {
		return err
	}
	rep.add("lag", "tidemark exit code after SIGTERM", fmt.Sprint(code), "0", "")
	if code != 0 {
		return fmt.Errorf("tidemark exited %d after SIGTERM (log %s)", code, p.logPath)
	}
	if !o.skipRedis {
		progress("redis ceilings: redis-benchmark and a mirror-like Lua HSET loop")
		if err := b.redisCeilings(ctx, rep); err != nil {
			return fmt.Errorf("measuring Redis ceilings: %w", err)
		}
	}
	if o.batchRows > 0 {
		progress("batch: extract and roll-forward rebuild of a %d-row table", o.batchRows)
		if err := b.batchPhase(ctx, rep); err != nil {
			return fmt.Errorf("measuring the batch layer: %w", err)
		}
	}
	rep.summary()
	if ctx.Err() != nil {
		return errors.New("interrupted")
	}
	return nil
}

// progress prints a phase line on stderr (stdout is the results table).
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}
