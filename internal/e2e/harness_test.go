package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
	"github.com/tidemark/tidemark/internal/workload"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds bin/tidemark once per test process.
func binary(t testing.TB) string {
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tidemark-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tidemark")
		cmd := exec.Command("go", "build", "-race", "-o", binPath, "./cmd/tidemark")
		if os.Getenv("TIDEMARK_TEST_NORACE") != "" {
			cmd = exec.Command("go", "build", "-o", binPath, "./cmd/tidemark")
		}
		cmd.Dir = stack.Root()
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("building tidemark: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// env is one throwaway stack: MariaDB with the shop schema, Redis (or a
// Redis Cluster) and a config file pointing Tidemark at them.
type env struct {
	t       *testing.T
	maria   *stack.MariaDBServer
	redis   *stack.RedisServer
	cluster *stack.RedisClusterServer
	db      *sql.DB
	cfg     string
	dir     string
	extra   string
}

type envOptions struct {
	cluster    bool
	mariaArgs  []string
	extraYAML  string // appended to the config (top-level sections)
	speedYAML  string // lines under speed:
	noWorkload bool
	sourceYAML string // lines appended to sources[0]
	apiYAML    string // lines under api:
}

func newEnv(t *testing.T, o envOptions) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	if len(o.mariaArgs) > 0 {
		e.maria = stack.MariaDBWith(t, o.mariaArgs...)
	} else {
		e.maria = stack.MariaDB(t)
	}
	redisSection := ""
	if o.cluster {
		e.cluster = stack.RedisCluster(t)
		redisSection = "  cluster: [" + strings.Join(e.cluster.Addrs, ", ") + "]\n"
	} else {
		e.redis = stack.Redis(t)
		redisSection = "  addr: " + e.redis.Addr + "\n"
	}
	e.db = e.openDB(t)
	if err := workload.CreateSchema(context.Background(), e.db, "shop"); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`sources:
  - name: shop
    flavor: mariadb
    host: 127.0.0.1
    port: %d
    user: root
    server_id: 4242
    databases: [shop]
%sredis:
%slake:
  root: file://%s/lake
api:
  listen: 127.0.0.1:0
%smetrics:
  listen: ""
speed:
  segment_seconds: 2
%s
log:
  level: debug
%s
views:%s`, e.maria.Port, o.sourceYAML, redisSection, e.dir, o.apiYAML, o.speedYAML, o.extraYAML, workload.Views("shop"))
	e.cfg = filepath.Join(e.dir, "tidemark.yaml")
	if err := os.WriteFile(e.cfg, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) openDB(t testing.TB) *sql.DB {
	db, err := sql.Open("mysql", e.maria.DSN("")+"&time_zone=%27%2B00%3A00%27")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(8)
	t.Cleanup(func() { db.Close() })
	return db
}

// proc is a running `tidemark run`.
type proc struct {
	cmd  *exec.Cmd
	log  string
	done chan error
}

func (e *env) start(t testing.TB, args ...string) *proc {
	t.Helper()
	logPath := filepath.Join(e.dir, fmt.Sprintf("tidemark-%d.log", time.Now().UnixNano()))
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary(t), append([]string{"run", "-c", e.cfg, "--roles", "speed"}, args...)...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { p.done <- cmd.Wait(); f.Close() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("tidemark log %s (tail):\n%s", logPath, tail(string(b), 4000))
		}
	})
	return p
}

func (p *proc) kill9(t testing.TB) {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// term sends SIGTERM and returns the exit code.
func (p *proc) term(t testing.TB) int {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("tidemark did not exit within 60s of SIGTERM")
	}
	return p.cmd.ProcessState.ExitCode()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

// tidemark runs a one-shot command and returns its output and exit code.
func (e *env) tidemark(t testing.TB, args ...string) (string, int) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(binary(t), args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return out.String(), ee.ExitCode()
		}
		t.Fatal(err)
	}
	return out.String(), 0
}

// verify runs `tidemark verify` and fails the test on any difference.
func (e *env) verify(t testing.TB) {
	t.Helper()
	out, code := e.tidemark(t, "verify", "-c", e.cfg, "--wait", "120s")
	if code != 0 {
		t.Fatalf("tidemark verify exited %d:\n%s", code, tail(out, 6000))
	}
	t.Logf("verify:\n%s", out)
}

// workload returns a generator on its own id space.
func (e *env) workload(seed uint64, space int64) *workload.Generator {
	return workload.New(e.db, "shop", seed, space)
}

func readFile(t testing.TB, path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// enableRebootstrap turns speed.rebootstrap_on_purge on in the config.
func (e *env) enableRebootstrap(t testing.TB) {
	s := readFile(t, e.cfg)
	s = strings.Replace(s, "speed:\n", "speed:\n  rebootstrap_on_purge: true\n", 1)
	if err := os.WriteFile(e.cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// purgeBinlogs rotates the binlog and purges files until the one holding
// Tidemark's checkpoint is gone. MariaDB keeps a file until InnoDB has
// checkpointed its transactions (the binlog checkpoint), warning instead of
// purging, so it retries.
func (e *env) purgeBinlogs(t testing.TB) {
	ckpt, err := e.redis.Client(t).HGet(context.Background(), "tm:{revenue_by_day}:meta", "ckpt").Result()
	if err != nil {
		t.Fatalf("reading the checkpoint: %v", err)
	}
	pos, err := formats.ParsePosition(ckpt)
	if err != nil {
		t.Fatal(err)
	}
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, err := e.db.ExecContext(ctx, "FLUSH BINARY LOGS"); err != nil {
			t.Fatal(err)
		}
		var files []string
		rows, err := e.db.QueryContext(ctx, "SHOW BINARY LOGS")
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			var name string
			vals[0] = &name
			for i := 1; i < len(cols); i++ {
				vals[i] = new(any)
			}
			if err := rows.Scan(vals...); err != nil {
				t.Fatal(err)
			}
			files = append(files, name)
		}
		rows.Close()
		last := files[len(files)-1]
		if files[0] > pos.File {
			return
		}
		if _, err := e.db.ExecContext(ctx, "PURGE BINARY LOGS TO '"+last+"'"); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("MariaDB would not purge binlogs before %s: %v", last, files)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// waitBootstrapped waits until view has a checkpoint in Redis: changes made
// after it are the speed layer's, not the bootstrap snapshot's.
func (e *env) waitBootstrapped(t testing.TB, view string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	rc := e.redis.Client(t)
	for {
		n, err := rc.Exists(context.Background(), "tm:{"+view+"}:meta").Result()
		if err == nil && n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("view %s not bootstrapped within 60s", view)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
