package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadConfig: each bad config gives a clear message naming the key and a
// non-zero exit, for every command that reads the config.
func TestBadConfig(t *testing.T) {
	dir := t.TempDir()
	good := `sources:
  - name: shop
    flavor: mariadb
    host: 127.0.0.1
    port: 1
    user: root
    server_id: 4242
    databases: [shop]
redis:
  addr: 127.0.0.1:1
views:
  - name: revenue_by_day
    from: shop.orders
    group_by: ["day(created_at) AS day"]
    measures: ["count()", "sum(amount)"]
`
	cases := []struct{ name, from, to, want string }{
		{"unknown key", "    port: 1\n", "    port: 1\n    prot: 2\n", `sources[0].prot (line 6): unknown key (did you mean "port"?)`},
		{"bad flavor", "flavor: mariadb", "flavor: postgres", `sources[0].flavor: "postgres": want mariadb or mysql`},
		{"no server id", "    server_id: 4242\n", "", "sources[0].server_id: required"},
		{"bad transform", "day(created_at) AS day", "week(created_at)", "views[0]"},
		{"bad measure", `"sum(amount)"`, `"median(amount)"`, "views[0]"},
		{"bad yaml", "redis:\n", "redis: [\n", "parsing config YAML"},
		{"bad duration", "views:", "speed:\n  shutdown_timeout: soon\nviews:", `speed.shutdown_timeout (line 12): "soon" is not a duration`},
		{"bad lake", "views:", "lake:\n  root: ftp://x\nviews:", `lake.root: "ftp://x"`},
		{"misspelt partitions table", "views:", "batch:\n  partitions:\n    shop.ordres: [\"day(created_at)\"]\nviews:", `batch.partitions["shop.ordres"]: shop.ordres is not a table the batch rebuilds`},
		{"bad partition spec", "views:", "batch:\n  partitions:\n    shop.orders: [\"dya(created_at)\"]\nviews:", `batch.partitions["shop.orders"][0]: "dya(created_at)": unknown transform "dya"`},
		{"view table not captured", "from: shop.orders", "from: crm.orders", `views[0].from: crm.orders is not captured by any source`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(good, tc.from) {
				t.Fatalf("edit %q does not apply", tc.from)
			}
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".yaml")
			if err := os.WriteFile(path, []byte(strings.Replace(good, tc.from, tc.to, 1)), 0o644); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range []string{"run", "validate", "verify", "query"} {
				args := []string{cmd, "-c", path}
				if cmd == "query" {
					args = append(args, "revenue_by_day")
				}
				out, code := (&env{}).tidemark(t, args...)
				if code == 0 {
					t.Fatalf("%s exited 0 on a bad config:\n%s", cmd, out)
				}
				if !strings.Contains(out, tc.want) {
					t.Fatalf("%s: message does not name the problem (%q):\n%s", cmd, tc.want, out)
				}
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		out, code := (&env{}).tidemark(t, "run", "-c", filepath.Join(dir, "nope.yaml"))
		if code == 0 || !strings.Contains(out, "nope.yaml") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("no -c", func(t *testing.T) {
		out, code := (&env{}).tidemark(t, "validate")
		if code == 0 || !strings.Contains(out, "missing -c FILE") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
	t.Run("env override unknown", func(t *testing.T) {
		path := filepath.Join(dir, "good.yaml")
		if err := os.WriteFile(path, []byte(good), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("TIDEMARK_REDIS_ADRR", "x")
		out, code := (&env{}).tidemark(t, "validate", "-c", path)
		if code == 0 || !strings.Contains(out, "TIDEMARK_REDIS_ADRR: no such config key") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})
}

// TestValidateSource: validate reports each unmet source prerequisite with
// its fix, and exits 1.
func TestValidateSource(t *testing.T) {
	e := newEnv(t, envOptions{mariaArgs: []string{"--binlog-format=STATEMENT", "--binlog-row-image=MINIMAL"}})
	out, code := e.tidemark(t, "validate", "-c", e.cfg)
	if code != 1 {
		t.Fatalf("validate exited %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{"binlog_format", "ROW", "binlog_row_image", "FULL", "fix:"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	good := newEnv(t, envOptions{})
	out, code = good.tidemark(t, "validate", "-c", good.cfg)
	if code != 0 {
		t.Fatalf("validate on a good source exited %d:\n%s", code, out)
	}
}
