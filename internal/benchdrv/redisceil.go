package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// sampleMirrorRow is what the mirror overlay stores per row: the version
// (a position) and the mirrored columns as JSON, the size Tidemark writes.
const sampleMirrorRow = `["mariadb-bin.000001:0123456789:000000@0-1-1234567",123456,4321,"paid","812.34","2024-06-01 12:34:56.789012"]`

// redisCeilings measures what Redis itself does per second for commands
// like the ones Tidemark issues (Tidemark stopped, so Redis has its core).
func (b *bench) redisCeilings(ctx context.Context, rep *report) error {
	redisPid := pidFromFile(b.o.redisPidFile)
	if _, err := exec.LookPath("redis-benchmark"); err != nil {
		rep.add("redis ceiling", "redis-benchmark", "not installed", "", "")
	} else {
		runs := []struct {
			name string
			args []string
		}{
			{"HSET (redis-benchmark -t hset)", []string{"-t", "hset"}},
			{"HSET of a mirror-sized row, random field", []string{"-r", "1000000", "HSET", "bench:{m}", "__rand_int__", sampleMirrorRow}},
			{"HINCRBY, random field", []string{"-r", "100000", "HINCRBY", "bench:{h}", "__rand_int__", "1"}},
			{"EVAL of a one-HINCRBY script", []string{"-r", "100000", "EVAL", "redis.call('HINCRBY', KEYS[1], ARGV[1], 1) return 1", "1", "bench:{e}", "__rand_int__"}},
		}
		for _, r := range runs {
			args := append([]string{"-h", "127.0.0.1", "-p", strconv.Itoa(b.o.redisPort), "-P", "64", "-q", "-n", "200000"}, r.args...)
			cpu := newCPUMeter([]string{"redis-server"}, []int{redisPid})
			rps, err := redisBenchmark(ctx, args)
			if err != nil {
				return err
			}
			cpu.stop()
			rep.add("redis ceiling", r.name, fmtRate(rps)+" ops/s", "", "-P 64 -n 200000"+redisCPUNote(cpu, redisPid, 200000))
		}
	}
	cpu := newCPUMeter([]string{"redis-server"}, []int{redisPid})
	rate, rows, err := b.luaHSetLoop(ctx, 1000, 3*time.Second)
	if err != nil {
		return err
	}
	cpu.stop()
	rep.luaHSet = rate
	if redisPid != 0 {
		rep.luaHSetCPU = cpu.used[0].Seconds() / float64(rows)
	}
	rep.add("redis ceiling", "Lua script HSETting 1,000 mirror rows per call", fmtRate(rate)+" rows/s", "",
		"the mirror apply script's per-row work, one call at a time as Tidemark"+redisCPUNote(cpu, redisPid, rows))
	return b.rdb.Del(ctx, "myhash", "bench:{m}", "bench:{h}", "bench:{e}", "bench:{lua}").Err()
}

var rpsRE = regexp.MustCompile(`([0-9.]+) requests per second`)

func redisBenchmark(ctx context.Context, args []string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-benchmark", args...).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	m := rpsRE.FindAllSubmatch(out, -1)
	if len(m) == 0 {
		return 0, fmt.Errorf("redis-benchmark %s: no rate in its output:\n%s", strings.Join(args, " "), out)
	}
	return strconv.ParseFloat(string(m[len(m)-1][1]), 64)
}

// luaHSetLoop calls a script that HSETs n pk → row pairs from ARGV, one
// call at a time, for about d, and returns rows/s. It is the mirror apply
// script's per-row work without its checkpoint bookkeeping.
func (b *bench) luaHSetLoop(ctx context.Context, n int, d time.Duration) (rate float64, rows int64, err error) {
	sc := redis.NewScript(`for j = 1, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[j], ARGV[j + 1]) end return 1`)
	args := make([]any, 2*n)
	start := time.Now()
	for time.Since(start) < d {
		for i := range n {
			args[2*i] = strconv.FormatInt((rows+int64(i))%1000000, 10)
			args[2*i+1] = sampleMirrorRow
		}
		if err := sc.Run(ctx, b.rdb, []string{"bench:{lua}"}, args...).Err(); err != nil {
			return 0, 0, fmt.Errorf("running the HSET loop script: %w", err)
		}
		rows += int64(n)
	}
	return float64(rows) / time.Since(start).Seconds(), rows, nil
}

// redisCPUNote says how much Redis CPU one operation took.
func redisCPUNote(cpu *cpuMeter, pid int, ops int64) string {
	if pid == 0 {
		return ""
	}
	return fmt.Sprintf("; Redis CPU %.2f µs per op (%.2f cores)", 1e6*cpu.used[0].Seconds()/float64(ops), cpu.cores(0))
}
