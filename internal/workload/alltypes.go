package workload

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// allTypesColumns are shop.alltypes' writable columns, in insert order.
var allTypesColumns = []string{"ti", "tiu", "si", "siu", "mi", "miu", "i", "iu", "bi", "biu", "dc", "dw", "f", "d",
	"dt", "dtm", "dtm6", "ts", "tm", "yr", "c", "vc", "tx", "bn", "vb", "bl", "en", "st", "bt", "js", "geo", "grp"}

// allTypesEdges holds, per column, values that stress the type map: the
// extremes of each range, negative zero-ish decimals, multi-byte text.
// DECIMAL(65,30) stays 6 digits below its maximum because MySQL's SUM
// saturates at DECIMAL(65) (Tidemark's exact sum would not), and
// FLOAT/DOUBLE avoid magnitudes near their maximum, whose sums cancel
// catastrophically under incremental updates in any engine: such
// comparisons would measure float rounding order, not Tidemark.
var allTypesEdges = map[string][]any{
	"ti":   {int64(-128), int64(127), int64(0), int64(-1)},
	"tiu":  {uint64(0), uint64(255), uint64(128)},
	"si":   {int64(-32768), int64(32767), int64(7)},
	"siu":  {uint64(65535), uint64(0), uint64(32768)},
	"mi":   {int64(-8388608), int64(8388607), int64(-3)},
	"miu":  {uint64(16777215), uint64(8388608), uint64(1)},
	"i":    {int64(-2147483648), int64(2147483647), int64(42)},
	"iu":   {uint64(4294967295), uint64(2147483648), uint64(0)},
	"bi":   {int64(-9223372036854775808), int64(9223372036854775807), int64(-1)},
	"biu":  {"18446744073709551615", "9223372036854775808", "1"},
	"dc":   {"-99999999999999.999999", "0.000001", "-0.000001", "12345.5"},
	"dw":   {"99999999999999999999999999999.999999999999999999999999999999", "-0.000000000000000000000000000001", "-12345678901234567890123456789.123456789012345678901234567891", "1.5"},
	"f":    {float32(1.5), float32(-3.25), float32(0.1), float32(65504)},
	"d":    {1.0 / 3.0, -2.5e-300, 123456.789, -0.001, 0.0},
	"dt":   {"1000-01-01", "9999-12-31", "2026-02-28"},
	"dtm":  {"1000-01-01 00:00:00", "9999-12-31 23:59:59", "2026-11-24 12:34:56"},
	"dtm6": {"2026-11-24 12:34:56.123456", "1970-01-01 00:00:00.000001", "2038-01-19 03:14:07.999999"},
	"ts":   {"1970-01-01 00:00:01.000", "2038-01-19 03:14:07.999", "2026-06-30 23:59:59.5"},
	"tm":   {"-838:59:59.00", "838:59:59.00", "00:00:00.01", "-00:00:01.50"},
	"yr":   {int64(1901), int64(2155), int64(2026)},
	"c":    {"", "abc", "ü✓"},
	"vc":   {"", "hello", "emoji 🚀🎉", "tab\tnewline\n"},
	"tx":   {"", strings.Repeat("long text ", 50), "日本語テキスト"},
	"bn":   {[]byte{0, 1, 2, 3}, []byte{0xff, 0, 0, 0xfe}},
	"vb":   {[]byte{}, []byte{0, 0, 0}, []byte("bin\x00ary")},
	"bl":   {[]byte{}, []byte{0xde, 0xad, 0xbe, 0xef}, make([]byte, 3000)},
	"en":   {"red", "green", "blue"},
	"st":   {"", "a", "a,c", "a,b,c,d"},
	"bt":   {uint64(0), uint64(1023), uint64(512)},
	"js":   {`{"a": 1}`, `[1, "two", null, true, {"x": 2.5}]`, `"string"`, `{}`},
	"geo":  {"POINT(1 2)", "LINESTRING(0 0, 1 1, 2 3)", "POLYGON((0 0, 4 0, 4 4, 0 0))"},
	"grp":  {int64(0), int64(1), int64(2)},
}

func (g *Generator) allTypesValue(col string) (expr string, arg any) {
	if col != "grp" && g.rng.IntN(8) == 0 {
		return "?", nil
	}
	vals := allTypesEdges[col]
	v := vals[g.rng.IntN(len(vals))]
	switch col {
	case "geo":
		return "ST_GeomFromText(?)", v
	case "bt":
		return "?", v
	}
	return "?", v
}

// writeAllTypes inserts, updates or deletes one shop.alltypes row.
func (g *Generator) writeAllTypes(ctx context.Context, tx *sql.Tx) error {
	var (
		q    string
		args []any
	)
	switch r := g.rng.IntN(10); {
	case r < 5 || g.nextA == 0:
		exprs := make([]string, len(allTypesColumns))
		args = append(args, g.id(g.nextA))
		for i, c := range allTypesColumns {
			var a any
			exprs[i], a = g.allTypesValue(c)
			args = append(args, a)
		}
		g.nextA++
		q = fmt.Sprintf("INSERT INTO %s.alltypes (id, %s) VALUES (?, %s)", g.db, strings.Join(allTypesColumns, ", "), strings.Join(exprs, ", "))
	case r < 8:
		cols := allTypesColumns[g.rng.IntN(len(allTypesColumns))]
		other := allTypesColumns[g.rng.IntN(len(allTypesColumns))]
		e1, a1 := g.allTypesValue(cols)
		e2, a2 := g.allTypesValue(other)
		if cols == other {
			q = fmt.Sprintf("UPDATE %s.alltypes SET %s = %s WHERE id = ?", g.db, cols, e1)
			args = []any{a1, g.id(g.rng.Int64N(g.nextA))}
		} else {
			q = fmt.Sprintf("UPDATE %s.alltypes SET %s = %s, %s = %s WHERE id = ?", g.db, cols, e1, other, e2)
			args = []any{a1, a2, g.id(g.rng.Int64N(g.nextA))}
		}
	default:
		q = fmt.Sprintf("DELETE FROM %s.alltypes WHERE id = ?", g.db)
		args = []any{g.id(g.rng.Int64N(g.nextA))}
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("writing shop.alltypes: %w", err)
	}
	n, _ := res.RowsAffected()
	g.Stats.RowChanges += n
	return nil
}
