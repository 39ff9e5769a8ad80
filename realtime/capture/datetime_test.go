package capture

import (
	"math/rand/v2"
	"testing"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// TestDatetime2StringsEqualGoMySQL decodes the same DATETIME(fsp) row images
// with go-mysql as it is and the way decodeRows does (the column as BIT,
// then datetime2Strings), and wants the same strings: random bytes (out of
// range fields included), zero dates, invalid dates and ordinary ones, at
// every precision.
func TestDatetime2StringsEqualGoMySQL(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	// enc packs a DATETIME2 value as the server does (without its
	// fractional bytes, which follow).
	enc := func(y, mo, d, h, mi, s int64) uint64 {
		ymd := (y*13+mo)<<5 | d
		hms := h<<12 | mi<<6 | s
		return uint64(ymd<<17|hms) + uint64(replication.DATETIMEF_INT_OFS)
	}
	for dec := uint16(0); dec <= 6; dec++ {
		n := datetime2Len(dec)
		var values [][]byte
		add := func(intPart uint64, frac uint64) {
			b := make([]byte, n)
			for i := 0; i < 5; i++ {
				b[i] = byte(intPart >> (8 * (4 - i)))
			}
			for i := 5; i < n; i++ {
				b[i] = byte(frac >> (8 * (n - 1 - i)))
			}
			values = append(values, b)
		}
		add(uint64(replication.DATETIMEF_INT_OFS), 0)        // 0000-00-00 00:00:00
		add(uint64(replication.DATETIMEF_INT_OFS), 0x0F4240) // zero date, frac 10^6 at dec 5, 6
		add(enc(2024, 2, 31, 13, 14, 15), 0x12)              // invalid date
		add(enc(2024, 0, 10, 0, 0, 0), 0)                    // zero in date
		add(enc(1999, 12, 31, 23, 59, 59), 0x0F423F)         // .999999
		add(enc(1000, 1, 1, 0, 0, 0), 1)                     // .000001
		add(enc(9999, 12, 31, 23, 59, 59), 0xFFFFFF)         // frac out of range
		add(0, 0)                                            // negative
		add(0xFFFFFFFFFF, 0xFFFFFF)                          // year > 9999
		add(enc(1970, 1, 1, 0, 0, 0)-1, 0)                   // before 1970
		for range 20000 {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			values = append(values, b)
		}
		// One row image per value: a null bitmap byte, then the value.
		var data []byte
		for _, v := range values {
			data = append(data, 0)
			data = append(data, v...)
		}
		tm := &replication.TableMapEvent{ColumnCount: 1, ColumnType: []byte{mysql.MYSQL_TYPE_DATETIME2}, ColumnMeta: []uint16{dec}}
		want := &replication.RowsEvent{Table: tm, ColumnCount: 1, ColumnBitmap1: []byte{1}}
		if err := want.DecodeData(0, data); err != nil {
			t.Fatal(err)
		}
		fast := *tm
		cols := rawDatetime2(&fast)
		if len(cols) != 1 || tm.ColumnType[0] != mysql.MYSQL_TYPE_DATETIME2 || tm.ColumnMeta[0] != dec {
			t.Fatalf("rawDatetime2: columns %v; the original table map is now %v %v", cols, tm.ColumnType, tm.ColumnMeta)
		}
		got := &replication.RowsEvent{Table: &fast, ColumnCount: 1, ColumnBitmap1: []byte{1}}
		if err := got.DecodeData(0, data); err != nil {
			t.Fatal(err)
		}
		if err := datetime2Strings(got.Rows, cols, tm.ColumnMeta); err != nil {
			t.Fatal(err)
		}
		if len(got.Rows) != len(values) || len(want.Rows) != len(values) {
			t.Fatalf("dec %d: %d and %d rows for %d values", dec, len(got.Rows), len(want.Rows), len(values))
		}
		for i := range values {
			if g, w := got.Rows[i][0], want.Rows[i][0]; g != w {
				t.Fatalf("dec %d, bytes %x: got %#v, go-mysql %#v", dec, values[i], g, w)
			}
		}
	}
}
