package redshiftfake

import (
	"strings"
	"testing"
)

func TestTranslate(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		domains  []string
	}{
		{`CREATE TABLE "s"."t" ("id" BIGINT NOT NULL, "v" VARCHAR(40), "b" VARBYTE(16), "d" DECIMAL(20,0), PRIMARY KEY ("id")) DISTSTYLE KEY DISTKEY("id") COMPOUND SORTKEY("v", "id")`,
			`CREATE TABLE "s"."t" ("id" BIGINT NOT NULL, "v" rsfake.varchar_40, "b" rsfake.varbyte_16, "d" DECIMAL(20,0), PRIMARY KEY ("id"))`,
			[]string{"rsfake.varchar_40", "rsfake.varbyte_16"}},
		{`CREATE VIEW "s"."v" AS SELECT "a" FROM "g"."t" WITH NO SCHEMA BINDING`, `CREATE VIEW "s"."v" AS SELECT "a" FROM "g"."t"`, nil},
		{`SELECT 'VARCHAR(99999) in a literal', CAST(x AS VARCHAR) FROM t`, `SELECT 'VARCHAR(99999) in a literal', CAST(x AS VARCHAR) FROM t`, nil},
		{`SELECT GETDATE()`, `SELECT (now() AT TIME ZONE 'UTC')`, nil},
	} {
		got, domains, err := translate(tc.in, true)
		if err != nil {
			t.Fatalf("translate(%s): %v", tc.in, err)
		}
		if got != tc.want || strings.Join(domains, ",") != strings.Join(tc.domains, ",") {
			t.Errorf("translate(%s)\n got %s %v\nwant %s %v", tc.in, got, domains, tc.want, tc.domains)
		}
	}
	for _, tc := range []struct {
		in      string
		inBatch bool
		want    string
	}{
		{`CREATE TABLE t (v VARCHAR(65536))`, false, "cannot exceed 65535"},
		{`CREATE TABLE t (v VARBYTE(16777217))`, false, "cannot exceed 16777216"},
		{`CREATE TABLE t (d DECIMAL(65,30))`, false, "precision 65"},
		{`TRUNCATE t`, true, "TRUNCATE commits"},
		{`VACUUM t`, true, "transaction block"},
		{`ALTER TABLE a APPEND FROM b`, true, "transaction block"},
		{`ALTER TABLE t ADD COLUMN a BIGINT, ADD COLUMN b BIGINT`, false, "one column per statement"},
	} {
		if _, _, err := translate(tc.in, tc.inBatch); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("translate(%s): %v, want an error with %q", tc.in, err, tc.want)
		}
	}
	if _, _, err := translate(`TRUNCATE t`, false); err != nil {
		t.Errorf("TRUNCATE alone (its own transaction) refused: %v", err)
	}
}
