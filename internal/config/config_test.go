package config

import (
	"strings"
	"testing"
	"time"
)

const good = `
sources:
  - name: shop
    flavor: mariadb
    host: 127.0.0.1
    port: 3306
    user: tidemark
    password: s3cret
    server_id: 4242
    databases: [shop]
redis:
  addr: 127.0.0.1:6379
lake:
  root: file:///tmp/lake
api:
  listen: 127.0.0.1:8080
views:
  - name: revenue_by_day
    from: shop.orders
    where: "status <> 'cancelled' AND amount > 0"
    group_by: ["day(created_at) AS day", "status"]
    measures: ["count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount"]
  - name: customers
    from: shop.customers
    mirror: true
`

func TestParseGood(t *testing.T) {
	c, err := Parse([]byte(good), []string{"TIDEMARK_SOURCES_0_PASSWORD=fromenv", "TIDEMARK_SPEED_SHUTDOWN_TIMEOUT=5s", "TIDEMARK_SOURCES_0_DATABASES=shop,crm", "PATH=/bin"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Sources[0].Password != "fromenv" {
		t.Errorf("password override: got %q", string(c.Sources[0].Password))
	}
	if got := c.Sources[0].Password.String(); got != "********" {
		t.Errorf("secret prints as %q", got)
	}
	if c.Speed.ShutdownTimeout != 5*time.Second {
		t.Errorf("duration override: %v", c.Speed.ShutdownTimeout)
	}
	if strings.Join(c.Sources[0].Databases, ",") != "shop,crm" {
		t.Errorf("list override: %v", c.Sources[0].Databases)
	}
	if c.Speed.SegmentSeconds != 10 || c.Speed.MemoryLimitMiB != 200 || c.API.DefaultRows != 10000 {
		t.Errorf("defaults not applied: %+v %+v", c.Speed, c.API)
	}
	if len(c.Views) != 2 || !c.Views[1].Mirror {
		t.Errorf("views: %+v", c.Views)
	}
}

func TestParseBad(t *testing.T) {
	cases := []struct {
		name, edit, env, want string
	}{
		{"misspelt key", "    port: 3306\n|    prot: 3306\n", "", `sources[0].prot (line 6): unknown key (did you mean "port"?)`},
		{"bad port", "    port: 3306\n|    port: 99999\n", "", "sources[0].port: 99999: want a TCP port"},
		{"port not int", "    port: 3306\n|    port: abc\n", "", `sources[0].port (line 6): "abc" is not an integer`},
		{"missing server id", "    server_id: 4242\n|", "", "sources[0].server_id: required"},
		{"bad flavor", "    flavor: mariadb\n|    flavor: oracle\n", "", `sources[0].flavor: "oracle": want mariadb or mysql`},
		{"nothing captured", "    databases: [shop]\n|", "", "sources[0]: set databases"},
		{"bad table", "    databases: [shop]\n|    tables: [orders]\n", "", `sources[0].tables[0]: "orders": want db.table`},
		{"history not captured", "  root: file:///tmp/lake\n|  root: file:///tmp/lake\nbatch:\n  history: [shop.orders, crm.people]\n", "", `batch.history[1]: "crm.people" is not captured by any source`},
		{"history not db.table", "  root: file:///tmp/lake\n|  root: file:///tmp/lake\nbatch:\n  history: [orders]\n", "", `batch.history[0]: "orders": want db.table`},
		{"bad lake", "  root: file:///tmp/lake\n|  root: ftp://x\n", "", `lake.root: "ftp://x": want file:///path or s3://bucket/prefix`},
		{"bad duration", "", "TIDEMARK_SPEED_SHUTDOWN_TIMEOUT=5 minutes", `TIDEMARK_SPEED_SHUTDOWN_TIMEOUT: "5 minutes" is not a duration`},
		{"unknown env", "", "TIDEMARK_REDIS_ADRR=x:1", "TIDEMARK_REDIS_ADRR: no such config key"},
		{"negative memory limit", "", "TIDEMARK_SPEED_MEMORY_LIMIT_MIB=-1", "speed.memory_limit_mib: -1: must be 0 (no limit) or positive"},
		{"bad view column spec", `    group_by: ["day(created_at) AS day", "status"]` + "\n|" + `    group_by: ["week(created_at)"]` + "\n", "", "views[0]"},
		{"duplicate view", "    mirror: true\n|    mirror: true\n  - name: customers\n    from: shop.customers\n    mirror: true\n", "", `views[2].name: "customers" is declared twice`},
		{"redis both", "  addr: 127.0.0.1:6379\n|  addr: 127.0.0.1:6379\n  cluster: [127.0.0.1:7000]\n", "", "redis: set either addr or cluster"},
		{"list where map", "redis:\n  addr: 127.0.0.1:6379\n|redis: [a]\n", "", "redis (line 11): want a mapping"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := good
			if tc.edit != "" && strings.Contains(tc.edit, "|") {
				from, to, _ := strings.Cut(tc.edit, "|")
				if !strings.Contains(doc, from) {
					t.Fatalf("test edit %q does not apply", from)
				}
				doc = strings.Replace(doc, from, to, 1)
			}
			var env []string
			if tc.env != "" {
				env = []string{tc.env}
			}
			_, err := Parse([]byte(doc), env)
			if err == nil {
				t.Fatalf("no error for %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
