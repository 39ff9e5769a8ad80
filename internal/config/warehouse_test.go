package config

import (
	"strings"
	"testing"
)

// whGood is the good config with a PostgreSQL and a Redshift target on an
// S3 lake.
var whGood = strings.Replace(good, "lake:\n  root: file:///tmp/lake\n", "lake:\n  root: s3://bucket/tm\n", 1) + `warehouse:
  - name: reporting
    kind: postgres
    host: pg.internal
    user: loader
    password: pgsecret
    database: analytics
    tables: [shop.orders]
  - name: rs
    kind: redshift
    data_api: {workgroup_name: wg, database: dev, region: eu-west-1}
    iam_role: arn:aws:iam::123456789012:role/tidemark-copy
    schema: lake
    table_keys:
      - {table: shop.orders, sort_keys: [created_at], dist_key: customer_id}
`

func TestWarehouseGood(t *testing.T) {
	c, err := Parse([]byte(whGood), []string{"TIDEMARK_WAREHOUSE_0_PASSWORD=p@ss/word", "TIDEMARK_WAREHOUSE_0_PORT=6432"})
	if err != nil {
		t.Fatal(err)
	}
	pg := c.WarehouseTarget("reporting")
	if pg == nil || pg.SchemaName() != "tidemark" || pg.Views != nil || len(pg.Tables) != 1 {
		t.Fatalf("postgres target: %+v", pg)
	}
	if dsn := pg.PostgresDSN(); dsn != "postgres://loader:p%40ss%2Fword@pg.internal:6432/analytics" {
		t.Errorf("dsn from the fields and the env password: %s", dsn)
	}
	if pg.Password.String() != "********" {
		t.Error("the warehouse password prints")
	}
	rs := c.WarehouseTarget("rs")
	if rs == nil || rs.SchemaName() != "lake" || rs.DataAPI.WorkgroupName != "wg" || rs.TableKeys[0].DistKey != "customer_id" {
		t.Fatalf("redshift target: %+v", rs)
	}
}

func TestWarehouseBad(t *testing.T) {
	cases := []struct{ name, from, to, want string }{
		{"no kind", "    kind: postgres\n", "", "warehouse[0].kind: required: postgres or redshift"},
		{"bad kind", "    kind: postgres\n", "    kind: mysql\n", `warehouse[0].kind: "mysql": want postgres or redshift`},
		{"duplicate name", "  - name: rs\n", "  - name: reporting\n", `warehouse[1].name: "reporting" is used by two targets`},
		{"no connection", "    host: pg.internal\n    user: loader\n    password: pgsecret\n    database: analytics\n", "", "warehouse[0]: set dsn: postgres://"},
		{"dsn and fields", "    host: pg.internal\n", "    host: pg.internal\n    dsn: postgres://a@b/c\n", "warehouse[0].dsn: set dsn or host/port/user/password/database, not both"},
		{"no database", "    database: analytics\n", "", "warehouse[0].database: required"},
		{"bad schema", "    schema: lake\n", "    schema: Lake-1\n", `warehouse[1].schema: "Lake-1": want a lower case SQL name`},
		{"bad table", "    tables: [shop.orders]\n", "    tables: [orders]\n", `warehouse[0].tables[0]: "orders": want db.table`},
		{"unknown view", "    tables: [shop.orders]\n", "    tables: [shop.orders]\n    views: [nope]\n", `warehouse[0].views[0]: "nope": no such view`},
		{"history not kept", "    tables: [shop.orders]\n", "    tables: [shop.orders]\n    history: [shop.orders]\n", `warehouse[0].history[0]: "shop.orders" has no history table: add it to batch.history first`},
		{"redshift key on postgres", "    tables: [shop.orders]\n", "    tables: [shop.orders]\n    iam_role: arn:aws:iam::123456789012:role/x\n", "warehouse[0]: data_api, iam_role and table_keys are Redshift settings"},
		{"no iam role", "    iam_role: arn:aws:iam::123456789012:role/tidemark-copy\n", "", "warehouse[1].iam_role: required: the ARN of a role"},
		{"bad iam role", "arn:aws:iam::123456789012:role/tidemark-copy", "tidemark-copy", `warehouse[1].iam_role: "tidemark-copy": want an IAM role ARN`},
		{"workgroup and cluster", "workgroup_name: wg,", "workgroup_name: wg, cluster_identifier: c,", "warehouse[1].data_api: set workgroup_name (Serverless) or cluster_identifier (provisioned), not both"},
		{"serverless db_user", "workgroup_name: wg,", "workgroup_name: wg, db_user: admin,", "warehouse[1].data_api.db_user: Redshift Serverless takes no db_user"},
		{"cluster without user", "workgroup_name: wg,", "cluster_identifier: c,", "warehouse[1].data_api: a provisioned cluster needs db_user"},
		{"no data api database", " database: dev,", "", "warehouse[1].data_api.database: required"},
		{"redshift on a file lake", "  root: s3://bucket/tm\n", "  root: file:///tmp/lake\n", `warehouse[1]: Redshift's COPY reads the lake from S3, but lake.root is "file:///tmp/lake"`},
		{"empty table keys", "sort_keys: [created_at], dist_key: customer_id", "sort_keys: []", "warehouse[1].table_keys[0]: set sort_keys, dist_key or both"},
		{"unknown key", "    schema: lake\n", "    schema: lake\n    shema: x\n", `warehouse[1].shema`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !strings.Contains(whGood, tc.from) {
				t.Fatalf("test edit %q does not apply", tc.from)
			}
			_, err := Parse([]byte(strings.Replace(whGood, tc.from, tc.to, 1)), nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v does not contain %q", err, tc.want)
			}
		})
	}
}
