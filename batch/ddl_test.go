package batch

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"

	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

func schemaOf(cols ...string) *formats.TableSchema {
	s := &formats.TableSchema{Table: formats.TableID{DB: "d", Table: "t"}, PK: []int{0}}
	for _, c := range cols {
		name, typ, _ := strings.Cut(c, " ")
		null := strings.HasSuffix(typ, " null")
		typ = strings.TrimSuffix(typ, " null")
		s.Columns = append(s.Columns, formats.Column{Name: name, Type: mustType(typ), Nullable: null})
	}
	return s
}

func strp(s string) *string { return &s }

func TestEvolve(t *testing.T) {
	base := schemaOf("id bigint", "qty int null", "note varchar(16) null", "amount decimal(10,2) null")
	row := formats.Row{int64(1), int64(5), "x", formats.Decimal("1.50")}
	defaults := map[string]ColumnDefault{
		"channel": {Default: strp("'it''s'")}, "n": {Default: strp("NULL")}, "k": {Default: strp("42")},
		"f": {Default: strp("current_timestamp()")}, "auto": {Generated: true}, "nodef": {},
	}
	added := func(c formats.Column) (any, string) {
		d, ok := defaults[c.Name]
		return defaultValue(c, d, ok)
	}
	for _, tc := range []struct {
		name string
		to   *formats.TableSchema
		want formats.Row // nil: not derivable
		why  string
	}{
		{"add with default", schemaOf("id bigint", "channel varchar(8)", "qty int null", "note varchar(16) null", "amount decimal(10,2) null", "k int null"),
			formats.Row{int64(1), "it's", int64(5), "x", formats.Decimal("1.50"), int64(42)}, ""},
		{"add null", schemaOf("id bigint", "qty int null", "note varchar(16) null", "amount decimal(10,2) null", "n varchar(3) null"),
			formats.Row{int64(1), int64(5), "x", formats.Decimal("1.50"), nil}, ""},
		{"drop", schemaOf("id bigint", "amount decimal(10,2) null"), formats.Row{int64(1), formats.Decimal("1.50")}, ""},
		{"widen", schemaOf("id bigint", "qty bigint null", "note text null", "amount decimal(14,4) null"),
			formats.Row{int64(1), int64(5), "x", formats.Decimal("1.5000")}, ""},
		{"rename", schemaOf("id bigint", "qty int null", "remark varchar(16) null", "amount decimal(10,2) null"), nil, "RENAME"},
		{"narrow", schemaOf("id bigint", "qty smallint null", "note varchar(16) null", "amount decimal(10,2) null"), nil, "not an exact widening"},
		{"fewer integer digits", schemaOf("id bigint", "qty int null", "note varchar(16) null", "amount decimal(10,4) null"), nil, "not an exact widening"},
		{"not null", schemaOf("id bigint", "qty int", "note varchar(16) null", "amount decimal(10,2) null"), nil, "not an exact widening"},
		{"signed to unsigned", schemaOf("id bigint", "qty int unsigned null", "note varchar(16) null", "amount decimal(10,2) null"), nil, "not an exact widening"},
		{"expression default", schemaOf("id bigint", "qty int null", "note varchar(16) null", "amount decimal(10,2) null", "f datetime null"), nil, "expression"},
		{"auto increment", schemaOf("id bigint", "qty int null", "note varchar(16) null", "amount decimal(10,2) null", "auto int"), nil, "generated or AUTO_INCREMENT"},
		{"no default", schemaOf("id bigint", "qty int null", "note varchar(16) null", "amount decimal(10,2) null", "nodef int"), nil, "no declared default"},
		{"unknown column", schemaOf("id bigint", "qty int null", "note varchar(16) null", "amount decimal(10,2) null", "zz int null"), nil, "does not say"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, why := evolve(base, tc.to, added)
			if tc.want == nil {
				if e != nil || !strings.Contains(why, tc.why) {
					t.Fatalf("evolve: %v %q, want a refusal saying %q", e, why, tc.why)
				}
				return
			}
			if why != "" {
				t.Fatalf("evolve refused: %s", why)
			}
			got, err := e.row(row)
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("row %v (%v), want %v", got, err, tc.want)
			}
			// The same through Arrow records.
			sch, err := snapshot.SchemaOf(base.Columns)
			if err != nil {
				t.Fatal(err)
			}
			to, err := snapshot.SchemaOf(tc.to.Columns)
			if err != nil {
				t.Fatal(err)
			}
			var recs []arrow.Record
			rb := newRowBatcher(sch, base, 10, func(r arrow.Record) error { r.Retain(); recs = append(recs, r); return nil })
			if err := rb.add(row); err != nil {
				t.Fatal(err)
			}
			rb.flush()
			rb.release()
			out, err := e.record(recs[0], to.Arrow())
			if err != nil {
				t.Fatal(err)
			}
			defer out.Release()
			r, err := rowOf(out, 0, tc.to)
			if err != nil || !reflect.DeepEqual(r, tc.want) {
				t.Fatalf("record row %v (%v), want %v", r, err, tc.want)
			}
		})
	}
}

// TestEvolveThen: an ADD after a DROP of the same name gives the new
// column's default, not the dropped column's values.
func TestEvolveThen(t *testing.T) {
	a := schemaOf("id bigint", "c int null", "q int null")
	b := schemaOf("id bigint", "q int null")
	c := schemaOf("id bigint", "q bigint null", "c varchar(4) null")
	added := func(formats.Column) (any, string) { return "d", "" }
	e1, why := evolve(a, b, added)
	if why != "" {
		t.Fatal(why)
	}
	e2, why := evolve(b, c, added)
	if why != "" {
		t.Fatal(why)
	}
	got, err := e1.then(e2).row(formats.Row{int64(1), int64(2), int64(3)})
	if want := (formats.Row{int64(1), int64(3), "d"}); err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("composed: %v (%v), want %v", got, err, want)
	}
	u := schemaOf("id bigint", "q int unsigned null")
	w := schemaOf("id bigint", "q bigint null")
	e, why := evolve(u, w, added)
	if why != "" {
		t.Fatal(why)
	}
	if got, _ := e.row(formats.Row{int64(1), uint64(7)}); !reflect.DeepEqual(got, formats.Row{int64(1), int64(7)}) {
		t.Fatalf("unsigned to signed: %v", got)
	}
}

func TestColumnsChanged(t *testing.T) {
	a := schemaOf("id bigint", "s varchar(16) null", "d decimal(10,2) null", "t datetime(3) null", "x text null")
	for _, tc := range []struct {
		b    *formats.TableSchema
		want bool
	}{
		{schemaOf("id bigint", "s varchar(16) null", "d decimal(10,2) null", "t datetime(3) null", "x text null"), false},
		{schemaOf("id bigint", "s varchar(16)", "d decimal(10,2) null", "t datetime(3) null", "x text null"), false}, // nullability alone: rows decode alike
		{schemaOf("id bigint", "s varchar(40) null", "d decimal(10,2) null", "t datetime(3) null", "x text null"), true},
		{schemaOf("id bigint", "s varchar(16) null", "d decimal(12,2) null", "t datetime(3) null", "x text null"), true},
		{schemaOf("id bigint", "s varchar(16) null", "d decimal(10,2) null", "t datetime(6) null", "x text null"), true},
		{schemaOf("id bigint", "s varchar(16) null", "d decimal(10,2) null", "t datetime(3) null", "x mediumtext null"), false},
		{schemaOf("id int", "s varchar(16) null", "d decimal(10,2) null", "t datetime(3) null", "x text null"), true},
		{schemaOf("id bigint", "s varchar(16) null", "d decimal(10,2) null", "t datetime(3) null"), true},
	} {
		if got := columnsChanged(a, tc.b); got != tc.want {
			t.Errorf("%v -> %v: changed %v, want %v", columnSpecs(a), columnSpecs(tc.b), got, tc.want)
		}
	}
}
