package redshift

import (
	"context"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	"github.com/jackc/pgx/v5"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/batch/warehouse"
	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/redshiftfake"
	"github.com/tidemark/tidemark/internal/stack"
)

const testRole = "arn:aws:iam::123456789012:role/tidemark-copy"

// env is a stand-in Redshift (redshiftfake over a real PostgreSQL) with
// the lake on a real MinIO.
type env struct {
	pg    *stack.PostgresServer
	minio *stack.MinIOServer
	fake  *redshiftfake.Server
	api   *DataAPI
	store lake.Store
	root  string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL and MinIO")
	}
	ctx := context.Background()
	e := &env{pg: stack.Postgres(t), minio: stack.MinIO(t), root: "s3://lake/tm"}
	var err error
	e.fake, err = redshiftfake.New(ctx, redshiftfake.Options{PostgresDSN: e.pg.DSN(), S3: e.minio.Client(),
		AccessKeyID: "AKIDTEST", SecretAccessKey: "secret-test", IAMRole: testRole})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.fake.Close)
	e.api = e.client(t, "secret-test")
	e.store, err = lake.OpenS3(ctx, "lake", "tm", lake.S3Options{Endpoint: e.minio.Endpoint, Region: e.minio.Region,
		AccessKeyID: e.minio.AccessKey, SecretAccessKey: e.minio.SecretKey, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) client(t *testing.T, secret string) *DataAPI {
	t.Helper()
	api, err := NewDataAPI(context.Background(), DataAPIOptions{WorkgroupName: "wg", Database: "dev", Region: "us-east-1",
		Endpoint: e.fake.URL, AccessKeyID: "AKIDTEST", SecretAccessKey: secret, PollInterval: 5 * time.Millisecond, MaxPoll: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return api
}

func (e *env) loader(t *testing.T, o Options) *Loader {
	t.Helper()
	o.Exec, o.Target, o.Store, o.LakeRoot = e.api, "rs", e.store, e.root
	if o.IAMRole == "" {
		o.IAMRole = testRole
	}
	o.Retry = RetryOptions{Backoff: 10 * time.Millisecond}
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func (e *env) conn(t *testing.T) *pgx.Conn { return e.pg.Conn(t) }

// allTypesValues are, per column of allTypesColumns, canonical values that
// stress the type map (the extremes of internal/workload/alltypes.go).
func allTypesValues(t testing.TB, cols []formats.Column) map[string][]any {
	t.Helper()
	text := map[string][]string{
		"ti": {"-128", "127", "0"}, "tiu": {"0", "255"}, "si": {"-32768", "32767"}, "siu": {"65535", "0"},
		"mi": {"-8388608", "8388607"}, "miu": {"16777215", "1"}, "i": {"-2147483648", "2147483647"}, "iu": {"4294967295", "0"},
		"bi": {"-9223372036854775808", "9223372036854775807", "-1"}, "biu": {"18446744073709551615", "9223372036854775808", "1"},
		"dc": {"-99999999999999.999999", "0.000001", "-0.000001", "12345.500000"},
		"dw": {"99999999999999999999999999999.999999999999999999999999999999", "-0.000000000000000000000000000001", "1.500000000000000000000000000000"},
		"f":  {"1.5", "-3.25", "0.1", "65504"}, "d": {"0.3333333333333333", "-2.5e-300", "123456.789", "-0.001", "0"},
		"dt": {"1000-01-01", "9999-12-31", "2026-02-28"}, "dtm": {"1000-01-01 00:00:00", "9999-12-31 23:59:59", "2026-11-24 12:34:56"},
		"dtm6": {"2026-11-24 12:34:56.123456", "1970-01-01 00:00:00.000001", "2038-01-19 03:14:07.999999"},
		"ts":   {"1970-01-01 00:00:01.000", "2038-01-19 03:14:07.999", "2026-06-30 23:59:59.500"},
		"tm":   {"-838:59:59.00", "838:59:59.00", "00:00:00.01", "-00:00:01.50"}, "yr": {"1901", "2155", "0"},
		"c": {"", "abc", "ü✓"}, "vc": {"", "hello", "emoji 🚀🎉", "tab\tnewline\n", "quote ' and \\ backslash"},
		"tx": {"", strings.Repeat("long text ", 50), "日本語テキスト"}, "mt": {"short", strings.Repeat("x", 60000)},
		"en": {"red", "green", "blue"}, "st": {"", "a", "a,c", "a,b,c,d"}, "bt": {"0", "1023", "512"},
		"b64": {"18446744073709551615", "0"}, "js": {`{"a":1}`, `[1,"two",null,true,{"x":2.5}]`, `"string"`, `{}`},
		"grp": {"0", "1", "2"},
	}
	bin := map[string][][]byte{
		"bn": {{0, 1, 2, 3}, {0xff, 0, 0, 0xfe}}, "vb": {{}, {0, 0, 0}, []byte("bin\x00ary")},
		"bl":  {{}, {0xde, 0xad, 0xbe, 0xef}, make([]byte, 3000)},
		"geo": {{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0x40}},
	}
	out := map[string][]any{}
	for _, c := range cols {
		if c.Name == "id" {
			continue
		}
		if bs, ok := bin[c.Name]; ok {
			for _, b := range bs {
				out[c.Name] = append(out[c.Name], b)
			}
			continue
		}
		for _, s := range text[c.Name] {
			v, err := formats.ParseText(c.Type, s)
			if err != nil {
				t.Fatalf("column %s: %v", c.Name, err)
			}
			out[c.Name] = append(out[c.Name], v)
		}
		if len(out[c.Name]) == 0 {
			t.Fatalf("no values for column %s", c.Name)
		}
	}
	return out
}

// allTypesRows makes n rows, ids from first, about one value in eight
// NULL where the column allows it.
func allTypesRows(t testing.TB, cols []formats.Column, first, n int, seed uint64) []formats.Row {
	vals := allTypesValues(t, cols)
	rng := rand.New(rand.NewPCG(seed, 7))
	rows := make([]formats.Row, n)
	for r := range rows {
		row := make(formats.Row, len(cols))
		for i, c := range cols {
			switch {
			case c.Name == "id":
				row[i] = int64(first + r)
			case c.Nullable && rng.IntN(8) == 0:
				row[i] = nil
			default:
				vs := vals[c.Name]
				row[i] = vs[rng.IntN(len(vs))]
			}
		}
		rows[r] = row
	}
	return rows
}

// writeTable writes rows as the batch layer does (snapshot.SchemaOf of the
// columns) under prefix, several files, and returns the warehouse table.
func writeTable(t testing.TB, store lake.Store, source string, kind warehouse.Kind, fileCols, cols []formats.Column, pk []int, rows []formats.Row, prefix string) warehouse.Table {
	t.Helper()
	ctx := context.Background()
	sch, err := snapshot.SchemaOf(fileCols)
	if err != nil {
		t.Fatal(err)
	}
	w, err := snapshot.NewWriter(store, prefix, sch, snapshot.PartitionSpec{}, snapshot.Options{MaxFileRows: 70})
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(memory.DefaultAllocator, sch.Arrow())
	defer b.Release()
	for _, row := range rows {
		for i, c := range fileCols {
			if err := formats.AppendArrow(b.Field(i), c.Type, row[i]); err != nil {
				t.Fatalf("column %s: %v", c.Name, err)
			}
		}
	}
	rec := b.NewRecord()
	defer rec.Release()
	if err := w.Write(ctx, rec); err != nil {
		t.Fatal(err)
	}
	files, err := w.Close()
	if err != nil {
		t.Fatal(err)
	}
	tab := warehouse.Table{Source: source, Kind: kind, Name: warehouse.StableName(kind, source), PK: pk, Rows: int64(len(rows))}
	for _, c := range cols {
		tab.Columns = append(tab.Columns, warehouse.Column{Name: c.Name, Type: c.Type, Nullable: c.Nullable})
	}
	for _, f := range files {
		tab.Files = append(tab.Files, warehouse.File{Key: f.Key, Rows: f.Rows, Bytes: f.Bytes})
		tab.Bytes += f.Bytes
	}
	return tab
}

// pgText is how PostgreSQL's ::text renders a canonical value of t loaded
// through RedshiftType, the comparison the end-to-end test makes.
func pgText(typ formats.Type, v any) *string {
	if v == nil {
		return nil
	}
	var s string
	switch x := v.(type) {
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case formats.Decimal:
		s = string(x)
	case float64:
		s = strconv.FormatFloat(x, 'g', -1, 64)
	case time.Duration:
		s = strconv.FormatInt(x.Microseconds(), 10)
	case time.Time:
		switch typ.Kind {
		case formats.KindDate:
			s = x.Format("2006-01-02")
		case formats.KindTimestamp:
			s = x.UTC().Format("2006-01-02 15:04:05.999999") + "+00"
		default:
			s = x.Format("2006-01-02 15:04:05.999999")
		}
	case string:
		s = x
	case []byte:
		s = `\x` + hex.EncodeToString(x)
	default:
		s = fmt.Sprint(v)
	}
	return &s
}

// readView reads schema.name's rows ordered by id, every column as text
// (floats re-rendered from their value).
func readView(t *testing.T, c *pgx.Conn, schema, name string, cols []formats.Column) [][]*string {
	t.Helper()
	sel := make([]string, len(cols))
	for i, col := range cols {
		sel[i] = pgx.Identifier{col.Name}.Sanitize() + "::text"
	}
	if _, err := c.Exec(context.Background(), "SET TIME ZONE 'UTC'"); err != nil {
		t.Fatal(err)
	}
	rows, err := c.Query(context.Background(), "SELECT "+strings.Join(sel, ", ")+" FROM "+pgx.Identifier{schema, name}.Sanitize()+" AS src ORDER BY src."+pgx.Identifier{cols[0].Name}.Sanitize())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]*string
	for rows.Next() {
		r := make([]*string, len(cols))
		ptrs := make([]any, len(cols))
		for i := range r {
			ptrs[i] = &r[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, col := range cols {
			if r[i] != nil && (col.Type.Kind == formats.KindFloat || col.Type.Kind == formats.KindDouble) {
				f, err := strconv.ParseFloat(*r[i], 64)
				if err != nil {
					t.Fatal(err)
				}
				s := strconv.FormatFloat(f, 'g', -1, 64)
				r[i] = &s
			}
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func checkRows(t *testing.T, what string, cols []formats.Column, got [][]*string, want []formats.Row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d rows, want %d", what, len(got), len(want))
	}
	for r := range want {
		for i, c := range cols {
			w, g := pgText(c.Type, want[r][i]), got[r][i]
			switch {
			case (w == nil) != (g == nil):
				t.Fatalf("%s row %d column %s (%v): got %v, want %v", what, r, c.Name, c.Type, deref(g), deref(w))
			case w != nil && *w != *g:
				t.Fatalf("%s row %d column %s (%v): got %.120q, want %.120q", what, r, c.Name, c.Type, *g, *w)
			}
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return fmt.Sprintf("%.80q", *s)
}
