package redshift

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

var update = flag.Bool("update", false, "rewrite testdata/*.sql golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test ./batch/warehouse/redshift -run %s -update)", err, t.Name())
	}
	if string(want) != got {
		t.Errorf("%s differs from the golden file:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

// allTypesColumns is a table with a column of every row of the type map.
func allTypesColumns(t testing.TB) []formats.Column {
	t.Helper()
	spec := []struct{ name, typ string }{
		{"id", "bigint"}, {"ti", "tinyint"}, {"tiu", "tinyint unsigned"}, {"si", "smallint"}, {"siu", "smallint unsigned"},
		{"mi", "mediumint"}, {"miu", "mediumint unsigned"}, {"i", "int"}, {"iu", "int unsigned"}, {"bi", "bigint"},
		{"biu", "bigint unsigned"}, {"dc", "decimal(20,6)"}, {"dw", "decimal(65,30)"}, {"f", "float"}, {"d", "double"},
		{"dt", "date"}, {"dtm", "datetime"}, {"dtm6", "datetime(6)"}, {"ts", "timestamp(3)"}, {"tm", "time(2)"},
		{"yr", "year"}, {"c", "char(10)"}, {"vc", "varchar(64)"}, {"tx", "text"}, {"mt", "mediumtext"}, {"bn", "binary(4)"},
		{"vb", "varbinary(16)"}, {"bl", "blob"}, {"en", "enum('red','green','blue')"}, {"st", "set('a','b','c','d')"},
		{"bt", "bit(10)"}, {"b64", "bit(64)"}, {"js", "json"}, {"geo", "geometry"}, {"grp", "int"},
	}
	cols := make([]formats.Column, len(spec))
	for i, s := range spec {
		typ, err := formats.ParseColumnType(s.typ)
		if err != nil {
			t.Fatalf("%s %s: %v", s.name, s.typ, err)
		}
		cols[i] = formats.Column{Name: s.name, Type: typ, Nullable: s.name != "id" && s.name != "grp"}
	}
	return cols
}

func TestGoldenSQL(t *testing.T) {
	cols := allTypesColumns(t)
	ddl, err := CreateTableSQL("tidemark_gen", "t_shop_alltypes_g7", cols, []int{0}, Keys{SortKeys: []string{"grp", "id"}, DistKey: "id"})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := CreateTableSQL("tidemark_gen", "t_revenue_g7", cols[:3], nil, Keys{})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "ddl.sql", ddl+";\n"+plain+";\n"+DropTableSQL("tidemark_gen", "t_shop_alltypes_g5")+";\n")

	m, err := ManifestJSON([]ManifestFile{
		{URL: "s3://lake/tm/tables/shop/alltypes/gen=7/part-00000.parquet", Bytes: 123456},
		{URL: "s3://lake/tm/tables/shop/alltypes/gen=7/dt=2026-12-07/part-00001.parquet", Bytes: 789},
	})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "manifest.json", string(m))

	cp, err := CopySQL("tidemark_gen", "t_shop_alltypes_g7", "s3://lake/tm/_warehouse/rs/gen=7/shop_alltypes.manifest",
		"arn:aws:iam::123456789012:role/tidemark-copy")
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "copy.sql", cp+";\n"+CountGuardSQL("tidemark_gen", "t_shop_alltypes_g7", 42)+";\n")

	swap := Swap{Schema: "tidemark", GenSchema: "tidemark_gen", Control: "tidemark_generations", Generation: 7,
		Cut: "mariadb-bin.000042:1337:0@0-1-99", GTID: "0-1-99",
		CutTime:  time.Date(2026, 12, 7, 22, 0, 0, 500000000, time.UTC),
		LoadedAt: time.Date(2026, 12, 7, 22, 1, 2, 3000, time.UTC), Fence: 12, StoredFence: 11,
		Tables: []SwapTable{
			{Name: "shop_alltypes", GenTable: "t_shop_alltypes_g7", Columns: []string{"id", "ti", "js"}, Rows: 42},
			{Name: "revenue_by_day", GenTable: "t_revenue_by_day_g7", Columns: []string{"day", "status", "orders"}, Rows: 3},
		},
		Drop: []string{"shop_dropped"},
	}
	plan, err := SwapSQL(swap)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Procedures) != 0 || len(plan.Cleanup) != 0 {
		t.Fatalf("a small swap uses procedures: %+v", plan)
	}
	sqls := plan.Batch
	golden(t, "swap.sql", strings.Join(sqls, ";\n")+";\n")
	for _, s := range sqls {
		for _, bad := range []string{"TRUNCATE", "APPEND", "VACUUM"} {
			if strings.Contains(strings.ToUpper(s), bad) {
				t.Errorf("the swap transaction holds %s: %s", bad, s)
			}
		}
	}
	if !strings.HasPrefix(sqls[0], "LOCK ") {
		t.Errorf("the swap's first statement is %q, want the control table's LOCK", sqls[0])
	}

	golden(t, "control.sql", ControlTableSQL("tidemark", "tidemark_generations")+";\n"+
		CurrentSQL("tidemark", "tidemark_generations")+";\n"+FenceSQL("tidemark", "tidemark_generations", 7, 13)+";\n")
	golden(t, "add_column.sql", AddColumnSQL("tidemark", "tidemark_generations", "fence", "BIGINT")+";\n")
}

func TestSQLRefusals(t *testing.T) {
	cols := allTypesColumns(t)
	if _, err := CreateTableSQL("s", "t", cols, nil, Keys{DistKey: "nope"}); err == nil {
		t.Error("a dist_key naming no column was accepted")
	}
	if _, err := CreateTableSQL("s", "t", cols, nil, Keys{SortKeys: []string{"id", "nope"}}); err == nil {
		t.Error("a sort key naming no column was accepted")
	}
	if _, err := ManifestJSON([]ManifestFile{{URL: "s3://b/k", Bytes: 1}, {URL: "s3://b/k", Bytes: 1}}); err == nil {
		t.Error("a manifest listing a file twice was accepted (Redshift would load it twice)")
	}
	if _, err := ManifestJSON([]ManifestFile{{URL: "s3://b/k", Bytes: 0}}); err == nil {
		t.Error("a manifest entry without content_length was accepted")
	}
	if _, err := CopySQL("s", "t", `s3://b/k\x`, "arn:aws:iam::123456789012:role/r"); !errors.Is(err, ErrUnsafeLiteral) {
		t.Errorf("a backslash in a literal: got %v, want ErrUnsafeLiteral", err)
	}
	many := Swap{Schema: "s", GenSchema: "g", Control: "c", Generation: 1}
	for i := range 40 {
		many.Tables = append(many.Tables, SwapTable{Name: "t" + string(rune('a'+i%26)) + string(rune('a'+i/26)), GenTable: "x", Columns: []string{"a"}})
	}
	plan, err := SwapSQL(many)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Procedures) != 1 || len(plan.Batch) != 4 || !strings.HasPrefix(plan.Batch[2], "CALL ") || len(plan.Cleanup) != 1 {
		t.Errorf("a swap of 40 names: %+v, want one procedure CALLed inside a 4-statement batch", plan)
	}
	golden(t, "swap_procedure.sql", strings.Join(append(append(plan.Procedures, plan.Batch...), plan.Cleanup...), ";\n")+";\n")
}

func TestRedshiftTypesRespectCOPYRules(t *testing.T) {
	for _, c := range allTypesColumns(t) {
		rt := formats.RedshiftType(c.Type)
		pq := formats.ParquetNode(c.Type, false).Type()
		switch {
		case pq.Kind().String() == "INT64" && pq.LogicalType() == nil && rt != "BIGINT":
			t.Errorf("%s (%v): INT64 in Parquet loads into BIGINT only, the type map says %s", c.Name, c.Type, rt)
		case strings.HasPrefix(rt, "DECIMAL(") && c.Type.Kind == formats.KindDecimal && c.Type.Precision > 38:
			t.Errorf("%s: DECIMAL past 38 digits: %s", c.Name, rt)
		}
		if limit, _ := formats.RedshiftByteLimit(c.Type); limit > 16777216 {
			t.Errorf("%s: byte limit %d past VARBYTE's", c.Name, limit)
		}
	}
	for _, tc := range []struct {
		typ  string
		want string
		may  bool
	}{
		{"varchar(64)", "VARCHAR(256)", false}, {"varchar(20000)", "VARCHAR(65535)", true}, {"text", "VARCHAR(65535)", false},
		{"mediumtext", "VARCHAR(65535)", true}, {"json", "VARCHAR(65535)", true}, {"longblob", "VARBYTE(16777216)", true},
		{"blob", "VARBYTE(65535)", false}, {"geometry", "VARBYTE(16777216)", true},
		{"bigint unsigned", "DECIMAL(20,0)", false}, {"decimal(65,30)", "VARCHAR(67)", false},
	} {
		typ, err := formats.ParseColumnType(tc.typ)
		if err != nil {
			t.Fatal(err)
		}
		if got := formats.RedshiftType(typ); got != tc.want {
			t.Errorf("RedshiftType(%s) = %s, want %s", tc.typ, got, tc.want)
		}
		if _, may := formats.RedshiftByteLimit(typ); may != tc.may {
			t.Errorf("RedshiftByteLimit(%s) may exceed = %t, want %t", tc.typ, may, tc.may)
		}
	}
}

func TestKindOf(t *testing.T) {
	for _, tc := range []struct {
		state, msg string
		want       error
	}{
		{"", serializationSample, ErrSerialization},
		{"XX000", "1023", ErrSerialization},
		{"40P01", "deadlock detected", ErrSerialization},
		{"", "ERROR: relation \"x\" does not exist", ErrStatement},
		{"42P01", "relation \"x\" does not exist", ErrStatement},
	} {
		if got := kindOf(tc.state, tc.msg); got != tc.want {
			t.Errorf("kindOf(%q, %q) = %v, want %v", tc.state, tc.msg, got, tc.want)
		}
	}
}

const serializationSample = "ERROR: 1023 DETAIL: Serializable isolation violation on table - 142046, transactions forming the cycle are: 4118, 4120 (pid:12345)"
