package formats_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// The table of every column type the type map knows, in a utf8mb4 table.
const allTypesDDL = "CREATE TABLE tm_types.alltypes (" +
	"id INT PRIMARY KEY," +
	"ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED," +
	"i INT, iu INT(10) UNSIGNED ZEROFILL, bi BIGINT, biu BIGINT UNSIGNED, b1 TINYINT(1)," +
	"dc DECIMAL(12,2), dw DECIMAL(65,30), d0 DECIMAL(10,0)," +
	"f FLOAT, f2 FLOAT(7,4), d DOUBLE," +
	"dt DATE, dtm DATETIME, dtm1 DATETIME(1), dtm3 DATETIME(3), dtm6 DATETIME(6)," +
	"ts TIMESTAMP(6) NULL DEFAULT NULL, ts0 TIMESTAMP NULL DEFAULT NULL," +
	"tm TIME, tm2 TIME(2), tm6 TIME(6), yr YEAR, yr2 YEAR(2)," +
	"c CHAR(5), vc VARCHAR(40), tx TEXT, mt MEDIUMTEXT," +
	"bn BINARY(4), vb VARBINARY(10), bl BLOB, lb LONGBLOB," +
	`en ENUM('a','b''c','x,y','d\\e','🚀'), st SET('a','b','q''r','🚀'),` +
	"bt1 BIT(1), bt5 BIT(5), bt64 BIT(64)," +
	"js JSON, geo GEOMETRY, pt POINT" +
	") DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"

// allTypesRows are the edge values, one INSERT per row, in a lax sql_mode so
// that the zero dates and ENUM's empty error value can be stored.
var allTypesRows = []string{
	// minimums and negatives
	`(1, -128, 0, -32768, 0, -8388608, 0, -2147483648, 0, -9223372036854775808, 0, -1,
	  -9999999999.99, '-99999999999999999999999999999999999.999999999999999999999999999999', -1,
	  -3.4028234e38, -999.9999, -1.7976931348623157e308,
	  '1000-01-01', '1000-01-01 00:00:00', '1000-01-01 00:00:00.1', '1000-01-01 00:00:00.001', '1969-12-31 23:59:59.999999',
	  '1970-01-01 00:00:01.000000', '1970-01-01 00:00:01',
	  '-838:59:59', '-00:00:01.50', '-838:59:59.999999', 1901, 70,
	  '', '', '', '', '', '', '', '',
	  'a', '', b'0', b'00000', b'0',
	  '{}', ST_GeomFromText('POINT(-1.5 2.25)'), ST_GeomFromText('POINT(0 0)'))`,
	// maximums
	`(2, 127, 255, 32767, 65535, 8388607, 16777215, 2147483647, 4294967295, 9223372036854775807, 18446744073709551615, 1,
	  9999999999.99, '99999999999999999999999999999999999.999999999999999999999999999999', 9999999999,
	  3.4028234e38, 999.9999, 1.7976931348623157e308,
	  '9999-12-31', '9999-12-31 23:59:59', '9999-12-31 23:59:59.9', '9999-12-31 23:59:59.999', '9999-12-31 23:59:59.999999',
	  '2038-01-19 03:14:07.999999', '2038-01-19 03:14:07',
	  '838:59:59', '838:59:59.99', '838:59:59.999999', 2155, 69,
	  'abcde', REPEAT('🚀', 40), REPEAT('long text ', 500), REPEAT('m', 70000),
	  0xFFFFFFFF, 0x00000000000000000000, REPEAT(0xFE, 3000), REPEAT(0x00, 70000),
	  '🚀', 'a,b,q''r,🚀', b'1', b'11111', 0xFFFFFFFFFFFFFFFF,
	  '[1, "two", null, true, {"x": 2.5}]', ST_GeomFromText('POLYGON((0 0, 4 0, 4 4, 0 0))'), ST_GeomFromText('POINT(1e300 -1e-300)'))`,
	// zeros, empties and zero dates
	`(3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	  0, 0, 0,
	  0, 0, -0e0,
	  '0000-00-00', '0000-00-00 00:00:00', '0000-00-00 00:00:00.0', '0000-00-00 00:00:00.000', '0000-00-00 00:00:00.000000',
	  '0000-00-00 00:00:00', '0000-00-00 00:00:00',
	  '00:00:00', '00:00:00.00', '00:00:00.000000', 0, '00',
	  'ab  ', ' trailing ', 'x', '',
	  'ab', 0x000000, 0x00, '',
	  'no such label', 'b,a', b'0', b'0', 0,
	  'null', ST_GeomFromText('LINESTRING(0 0, 1 1, 2 3)'), ST_GeomFromText('POINT(0 -0)'))`,
	// NULL everywhere
	"(4" + strings.Repeat(", NULL", 45) + ")",
	// ordinary values that stress rounding and text
	`(5, -1, 128, -2, 32768, -3, 8388608, 42, 2147483648, -1, 9223372036854775808, 0,
	  -0.01, '-0.000000000000000000000000000001', 12345,
	  1.1, 1.23456, 0.1e0 + 0.2e0,
	  '2024-02-29', '2024-02-29 12:34:56', '2024-02-29 12:34:56.5', '2024-02-29 12:34:56.120', '2024-02-29 12:34:56.000001',
	  '2024-03-10 02:30:00.5', '2024-11-03 01:30:00',
	  '-12:00:01', '-12:00:01.5', '00:00:00.000001', 2024, 24,
	  '日本語', 'emoji 🚀🎉 ü✓ "q" \\ \t\n', 'tab\tnewline\n''quote''', 'ü',
	  0x00010203, 'bin\0ary', 0xDEADBEEF, 0xCAFE,
	  'd\\e', 'q''r,🚀', b'1', b'10101', 0x8000000000000001,
	  '{"a":  [1, 2], "b": "🚀", "c": {"d": -1.5e-7}}', ST_GeomFromText('MULTIPOLYGON(((0 0,1 0,1 1,0 0)),((2 2,3 2,3 3,2 2)))'), ST_GeomFromText('POINT(3 4)', 4326))`,
}

// TestTypeMapBinlogEqualsSnapshot is the proof of one type map: the same
// rows decoded from the binlog (go-mysql, FromBinlog) and from a snapshot
// query (SelectExpr, FromText) are identical, value for value.
func TestTypeMapBinlogEqualsSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a MariaDB")
	}
	m := stack.MariaDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m.Exec(t, "CREATE DATABASE tm_types", allTypesDDL)

	db := m.DB(t, "tm_types")
	var file string
	var pos uint32
	var ignore1, ignore2 any
	if err := db.QueryRowContext(ctx, "SHOW MASTER STATUS").Scan(&file, &pos, &ignore1, &ignore2); err != nil {
		t.Fatalf("reading the binlog position: %v", err)
	}

	stmts := []string{"SET SESSION sql_mode = ''", "SET SESSION time_zone = '+00:00'"}
	for _, r := range allTypesRows {
		stmts = append(stmts, "INSERT INTO tm_types.alltypes VALUES "+r)
	}
	m.Exec(t, stmts...)

	cols := columnsFromInformationSchema(ctx, t, db)
	types := make([]formats.Type, len(cols))
	for i, c := range cols {
		types[i] = c.Type
	}
	snapshot := readSnapshot(ctx, t, db, cols)
	if len(snapshot) != len(allTypesRows) {
		t.Fatalf("snapshot has %d rows, want %d", len(snapshot), len(allTypesRows))
	}

	// An update after the snapshot: its before image must equal the
	// snapshot, its after image the snapshot with the change.
	m.Exec(t, "UPDATE tm_types.alltypes SET vc = CONCAT(LEFT(vc, 39), '!') WHERE id IN (1, 2, 3, 5)")
	after := readSnapshot(ctx, t, db, cols)

	events := readRowsEvents(ctx, t, m, file, pos, "alltypes", len(allTypesRows)+2*4)
	// The binlog path decodes with the table map's types, as the capture
	// does; they must agree with information_schema's.
	var inserts, befores, afters [][]any
	for _, ev := range events {
		mapTypes := typesFromTableMap(t, ev.Table)
		for i := range cols {
			if !sameType(cols[i].Type, mapTypes[i]) {
				t.Errorf("column %s: table map type %v (%+v), information_schema %v (%+v)",
					cols[i].Name, mapTypes[i], mapTypes[i], cols[i].Type, cols[i].Type)
			}
		}
		for ri, raw := range ev.Rows {
			row := make([]any, len(raw))
			for ci, v := range raw {
				got, err := formats.FromBinlog(mapTypes[ci], v)
				if err != nil {
					t.Fatalf("column %s: %v", cols[ci].Name, err)
				}
				// information_schema's type decodes the same, unless MariaDB
				// lost 4-byte characters of its ENUM/SET values.
				if !lossyElems(cols[ci].Type) {
					if again, err := formats.FromBinlog(cols[ci].Type, v); err != nil || !reflect.DeepEqual(again, got) {
						t.Errorf("column %s: with information_schema's type %v: %#v, %v; with the table map's: %#v",
							cols[ci].Name, cols[ci].Type, again, err, got)
					}
				}
				row[ci] = got
			}
			switch {
			case isWrite(ev):
				inserts = append(inserts, row)
			case ri%2 == 0:
				befores = append(befores, row)
			default:
				afters = append(afters, row)
			}
		}
	}
	compareRows(t, "insert", cols, inserts, snapshot)
	compareRows(t, "update before image", cols, befores, pick(snapshot, 1, 2, 3, 5))
	compareRows(t, "update after image", cols, afters, pick(after, 1, 2, 3, 5))

	// Spot checks that the shared value is the right one, not just the same.
	byID := map[int64][]any{}
	for _, r := range snapshot {
		byID[r[0].(int64)] = r
	}
	col := func(name string) int {
		for i, c := range cols {
			if c.Name == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	for _, c := range []struct {
		id   int64
		col  string
		want any
	}{
		{2, "biu", uint64(18446744073709551615)},
		{2, "bt64", uint64(18446744073709551615)},
		{1, "dw", formats.Decimal("-99999999999999999999999999999999999.999999999999999999999999999999")},
		{5, "dc", formats.Decimal("-0.01")},
		{5, "f", float64(float32(1.1))},
		{5, "f2", float64(float32(1.2346))},
		{5, "d", 0.30000000000000004},
		{1, "tm2", -1500 * time.Millisecond},
		{1, "tm", -(838*time.Hour + 59*time.Minute + 59*time.Second)},
		{3, "dt", time.Time{}},
		{3, "ts", time.Time{}},
		{1, "ts", time.Date(1970, 1, 1, 0, 0, 1, 0, time.UTC)},
		{2, "ts", time.Date(2038, 1, 19, 3, 14, 7, 999999000, time.UTC)},
		{5, "dtm6", time.Date(2024, 2, 29, 12, 34, 56, 1000, time.UTC)},
		{1, "yr2", int64(1970)},
		{3, "yr2", int64(2000)},
		{5, "yr2", int64(2024)},
		{3, "c", "ab"},
		{3, "vc", " trailing "},
		{1, "vc", ""},
		{3, "bn", []byte{'a', 'b', 0, 0}},
		{1, "vb", []byte{}},
		{3, "en", ""},
		{3, "st", "a,b"},
		{5, "en", `d\e`},
		{5, "st", "q'r,🚀"},
		{5, "vc", "emoji 🚀🎉 ü✓ \"q\" \\ \t\n"},
		// MariaDB's JSON is a LONGTEXT: the text as inserted.
		{5, "js", `{"a":  [1, 2], "b": "🚀", "c": {"d": -1.5e-7}}`},
		{5, "bt5", uint64(21)},
		{5, "pt", []byte("\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x08@\x00\x00\x00\x00\x00\x00\x10@")},
		{4, "dc", nil},
	} {
		if got := byID[c.id][col(c.col)]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("row %d %s = %#v, want %#v", c.id, c.col, got, c.want)
		}
	}
}

// sameType compares a column's type from information_schema and from the
// table map, allowing for what the table map cannot say (YEAR(2)) and for
// MariaDB writing 4-byte characters of ENUM/SET values as '?' in
// information_schema.
func sameType(info, fromMap formats.Type) bool {
	if info.Kind == formats.KindYear {
		info.Precision = fromMap.Precision
	}
	if len(info.Elems) == len(fromMap.Elems) {
		elems := append([]string(nil), info.Elems...)
		for i, e := range elems {
			if e != fromMap.Elems[i] && strings.Trim(e, "?") == "" && hasNonBMP(fromMap.Elems[i]) {
				elems[i] = fromMap.Elems[i]
			}
		}
		info.Elems = elems
	}
	return reflect.DeepEqual(info, fromMap)
}

func hasNonBMP(s string) bool {
	for _, r := range s {
		if r > 0xFFFF {
			return true
		}
	}
	return false
}

func lossyElems(t formats.Type) bool {
	for _, e := range t.Elems {
		if strings.Contains(e, "?") {
			return true
		}
	}
	return false
}

func isWrite(ev *rowsEvent) bool {
	switch ev.Header.EventType {
	case replication.WRITE_ROWS_EVENTv0, replication.WRITE_ROWS_EVENTv1, replication.WRITE_ROWS_EVENTv2:
		return true
	}
	return false
}

func pick(rows [][]any, ids ...int64) [][]any {
	var out [][]any
	for _, id := range ids {
		for _, r := range rows {
			if r[0] == id {
				out = append(out, r)
			}
		}
	}
	return out
}

// compareRows asserts the binlog rows equal the snapshot rows, by id.
func compareRows(t *testing.T, what string, cols []formats.Column, binlog, snapshot [][]any) {
	t.Helper()
	if len(binlog) != len(snapshot) {
		t.Fatalf("%s: %d binlog rows, %d snapshot rows", what, len(binlog), len(snapshot))
	}
	for i := range binlog {
		b, s := binlog[i], snapshot[i]
		for ci := range cols {
			if !reflect.DeepEqual(b[ci], s[ci]) {
				t.Errorf("%s: row id=%v column %s (%v): binlog %#v, snapshot %#v",
					what, s[0], cols[ci].Name, cols[ci].Type, b[ci], s[ci])
			}
		}
		if bytes.Equal(formatRow(cols, b), formatRow(cols, s)) == false {
			t.Errorf("%s: row id=%v: JSON differs", what, s[0])
		}
	}
}

func formatRow(cols []formats.Column, r []any) []byte {
	var b []byte
	for i, c := range cols {
		b = formats.AppendJSON(b, c.Type, r[i])
		b = append(b, ',')
	}
	return b
}

func columnsFromInformationSchema(ctx context.Context, t *testing.T, db *sql.DB) []formats.Column {
	t.Helper()
	rows, err := db.QueryContext(ctx, `SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = 'tm_types' AND TABLE_NAME = 'alltypes' ORDER BY ORDINAL_POSITION`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var cols []formats.Column
	for rows.Next() {
		var name, colType, nullable string
		if err := rows.Scan(&name, &colType, &nullable); err != nil {
			t.Fatal(err)
		}
		typ, err := formats.ParseColumnType(colType)
		if err != nil {
			t.Fatalf("column %s: %v", name, err)
		}
		cols = append(cols, formats.Column{Name: name, Type: typ, Nullable: nullable == "YES"})
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

// readSnapshot reads the table through the text protocol the way a
// snapshot does: SelectExpr per column, sql.RawBytes, FromText; in a
// session whose time_zone is not UTC, to prove TIMESTAMP does not depend on
// it.
func readSnapshot(ctx context.Context, t *testing.T, db *sql.DB, cols []formats.Column) [][]any {
	t.Helper()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SET SESSION time_zone = '+05:30'"); err != nil {
		t.Fatal(err)
	}
	exprs := make([]string, len(cols))
	for i, c := range cols {
		exprs[i] = formats.SelectExpr(c)
	}
	rows, err := conn.QueryContext(ctx, "SELECT "+strings.Join(exprs, ", ")+" FROM tm_types.alltypes ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][]any
	raw := make([]sql.RawBytes, len(cols))
	dest := make([]any, len(cols))
	for i := range raw {
		dest[i] = &raw[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			t.Fatal(err)
		}
		row := make([]any, len(cols))
		for i, c := range cols {
			v, err := formats.FromText(c.Type, raw[i])
			if err != nil {
				t.Fatalf("column %s: %v", c.Name, err)
			}
			row[i] = v
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

type rowsEvent struct {
	Header *replication.EventHeader
	*replication.RowsEvent
}

// readRowsEvents is a minimal binlog reader: from file:pos, the rows events
// of table until they hold wantRows rows (an update counts two: its before
// and after images).
func readRowsEvents(ctx context.Context, t *testing.T, m *stack.MariaDBServer, file string, pos uint32, table string, wantRows int) []*rowsEvent {
	t.Helper()
	syncer := replication.NewBinlogSyncer(replication.BinlogSyncerConfig{
		ServerID: 4242, Flavor: mysql.MariaDBFlavor,
		Host: m.Host, Port: uint16(m.Port), User: m.User, Password: m.Password,
		// The configuration formats.FromBinlog documents.
		ParseTime: false, UseDecimal: false, TimestampStringLocation: time.UTC, RenderJSONAsMySQLText: true,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	defer syncer.Close()
	streamer, err := syncer.StartSync(mysql.Position{Name: file, Pos: pos})
	if err != nil {
		t.Fatalf("starting binlog sync at %s:%d: %v", file, pos, err)
	}
	var out []*rowsEvent
	for rows := 0; rows < wantRows; {
		ev, err := streamer.GetEvent(ctx)
		if err != nil {
			t.Fatalf("reading the binlog after %d rows: %v", rows, err)
		}
		if e, ok := ev.Event.(*replication.RowsEvent); ok && string(e.Table.Table) == table {
			out = append(out, &rowsEvent{Header: ev.Header, RowsEvent: e})
			rows += len(e.Rows)
		}
	}
	return out
}

// typesFromTableMap builds each column's Type from the table map's
// metadata (binlog_row_metadata=FULL), as the capture does.
func typesFromTableMap(t *testing.T, tm *replication.TableMapEvent) []formats.Type {
	t.Helper()
	unsigned := tm.UnsignedMap()
	collations := tm.CollationMap()
	enums, sets := tm.EnumStrValueMap(), tm.SetStrValueMap()
	out := make([]formats.Type, len(tm.ColumnType))
	for i := range tm.ColumnType {
		elems := enums[i]
		if elems == nil {
			elems = sets[i]
		}
		typ, err := formats.TypeFromBinlog(formats.BinlogColumn{
			Type: tm.ColumnType[i], Meta: tm.ColumnMeta[i], Unsigned: unsigned[i],
			Collation: collations[i], Elems: elems,
		})
		if err != nil {
			t.Fatalf("column %d (%s): %v", i, columnName(tm, i), err)
		}
		out[i] = typ
	}
	return out
}

func columnName(tm *replication.TableMapEvent, i int) string {
	if names := tm.ColumnNameString(); i < len(names) {
		return names[i]
	}
	return fmt.Sprint(i)
}
