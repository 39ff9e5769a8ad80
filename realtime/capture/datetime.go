package capture

import (
	"fmt"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
)

// go-mysql formats every DATETIME(fsp) value (MYSQL_TYPE_DATETIME2) with
// fmt.Sprintf, a tenth of the capture's CPU on a table with one DATETIME
// column; its ParseTime option would avoid that but silently normalizes
// invalid dates (2024-02-31, allowed by ALLOW_INVALID_DATES, becomes
// 2024-03-02), which formats.FromBinlog must see to refuse. So the table map
// a rows event is decoded with declares such columns as BIT of the same
// byte length: go-mysql then hands over the column's bytes as an int64,
// and datetime2String turns them into exactly the string go-mysql would
// have made. Everything downstream sees what it saw before.

// datetime2Len is the byte length of a DATETIME2 value of fractional
// precision dec (the column's table-map metadata), or 0 for a precision
// go-mysql's own decoder should handle (outside 0..6: it errs there).
func datetime2Len(dec uint16) int {
	if dec > 6 {
		return 0
	}
	return int(5 + (dec+1)/2)
}

// rawDatetime2 rewrites the DATETIME2 columns of table map t (a copy the
// caller owns: its ColumnType and ColumnMeta are replaced, not changed in
// place) to BIT columns of the same byte length, and returns the columns
// rewritten, or nil when there are none.
func rawDatetime2(t *replication.TableMapEvent) []int {
	var cols []int
	for i, tp := range t.ColumnType {
		if tp == mysql.MYSQL_TYPE_DATETIME2 && i < len(t.ColumnMeta) && datetime2Len(t.ColumnMeta[i]) > 0 {
			cols = append(cols, i)
		}
	}
	if cols == nil {
		return nil
	}
	types := append([]byte(nil), t.ColumnType...)
	meta := append([]uint16(nil), t.ColumnMeta...)
	for _, i := range cols {
		// BIT metadata is (bytes << 8 | bits): n whole bytes.
		types[i], meta[i] = mysql.MYSQL_TYPE_BIT, uint16(datetime2Len(meta[i]))<<8
	}
	t.ColumnType, t.ColumnMeta = types, meta
	return cols
}

// datetime2Strings replaces, in every row, the raw value of each rewritten
// column (rawDatetime2) with its string. decs are the original precisions.
func datetime2Strings(rows [][]any, cols []int, decs []uint16) error {
	for _, r := range rows {
		for _, i := range cols {
			if i >= len(r) || r[i] == nil {
				continue
			}
			raw, ok := r[i].(int64)
			if !ok {
				return fmt.Errorf("column %d: DATETIME decoded as %T", i, r[i])
			}
			r[i] = datetime2String(uint64(raw), decs[i])
		}
	}
	return nil
}

// datetime2String returns the string go-mysql's decodeDatetime2 returns
// (without ParseTime) for a DATETIME2 value of precision dec whose
// datetime2Len(dec) bytes, big-endian, are the low bytes of raw: the same
// arithmetic, and the same formatting, by hand where every field fits its
// width and by the same fmt verbs otherwise (out-of-range bits).
func datetime2String(raw uint64, dec uint16) string {
	n := datetime2Len(dec)
	intPart := int64(raw>>(8*(n-5))) - replication.DATETIMEF_INT_OFS
	var frac int64
	switch dec {
	case 1, 2:
		frac = int64(raw&0xFF) * 10000
	case 3, 4:
		frac = int64(raw&0xFFFF) * 100
	case 5, 6:
		frac = int64(raw & 0xFFFFFF)
	}
	if intPart == 0 {
		return datetimeString(0, 0, 0, 0, 0, 0, int(frac), int(dec))
	}
	tmp := intPart<<24 + frac
	if tmp < 0 {
		tmp = -tmp
	}
	ymdhms := tmp >> 24
	ymd := ymdhms >> 17
	ym := ymd >> 5
	hms := ymdhms % (1 << 17)
	return datetimeString(int(ym/13), int(ym%13), int(ymd%(1<<5)),
		int(hms>>12), int((hms>>6)%(1<<6)), int(hms%(1<<6)), int(frac), int(dec))
}

// datetimeString is go-mysql's formatDatetime (and, for all zeros,
// formatZeroTime, which prints the same).
func datetimeString(year, month, day, hour, minute, second, frac, dec int) string {
	if year < 0 || year > 9999 || month < 0 || month > 99 || day < 0 || day > 99 ||
		hour < 0 || hour > 99 || minute < 0 || minute > 99 || second < 0 || second > 99 ||
		frac < 0 || frac > 999999 {
		if dec == 0 {
			return fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d", year, month, day, hour, minute, second)
		}
		s := fmt.Sprintf("%04d-%02d-%02d %02d:%02d:%02d.%06d", year, month, day, hour, minute, second, frac)
		return s[0 : len(s)-(6-dec)]
	}
	var b [26]byte
	put := func(at, v, width int) {
		for i := at + width - 1; i >= at; i-- {
			b[i] = byte('0' + v%10)
			v /= 10
		}
	}
	put(0, year, 4)
	b[4] = '-'
	put(5, month, 2)
	b[7] = '-'
	put(8, day, 2)
	b[10] = ' '
	put(11, hour, 2)
	b[13] = ':'
	put(14, minute, 2)
	b[16] = ':'
	put(17, second, 2)
	if dec == 0 {
		return string(b[:19])
	}
	b[19] = '.'
	put(20, frac, 6)
	return string(b[:20+dec])
}
