package formats

import (
	"fmt"
	"strconv"
	"strings"
)

// FromText converts raw, one column of a snapshot row read through the
// MySQL text protocol (database/sql with go-sql-driver/mysql, parseTime=false,
// scanned into sql.RawBytes), into t's canonical Go value. A nil raw is
// NULL; an empty non-nil raw is the empty string or empty bytes.
//
// The query must select each column with SelectExpr: FLOAT is read from
// CAST(col AS DOUBLE), because the server prints a FLOAT with 6 significant
// digits and loses the exact float32 the binlog carries; TIMESTAMP is read
// from UNIX_TIMESTAMP(col), which is the stored instant whatever the
// session time_zone (a plain TIMESTAMP text is also accepted, read as UTC:
// only right when the session time_zone is '+00:00'). GEOMETRY is selected
// as stored (SRID then WKB, exactly the binlog's bytes), not ST_AsBinary,
// which may reorder axes for geographic SRIDs on MySQL 8. BIT arrives as
// its big-endian bytes. YEAR(2) arrives as its last two digits, so t must
// say YEAR(2) (Precision 2), as ParseColumnType does; the binlog table map
// cannot tell it.
//
// raw is copied; the caller may reuse it.
func FromText(t Type, raw []byte) (any, error) {
	if raw == nil {
		return nil, nil
	}
	out, err := fromText(t, raw)
	if err == nil {
		err = checkUTF8(out)
	}
	if err != nil {
		return nil, fmt.Errorf("decoding %s value %q: %w", t, raw, err)
	}
	return out, nil
}

func fromText(t Type, raw []byte) (any, error) {
	s := string(raw)
	switch t.Kind {
	case KindTinyInt, KindSmallInt, KindMediumInt, KindInt, KindBigInt:
		if t.Unsigned {
			return strconv.ParseUint(s, 10, 64)
		}
		return strconv.ParseInt(s, 10, 64)
	case KindYear:
		y, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, err
		}
		// YEAR(2) travels as its two digits, unpadded ("5" is 2005):
		// 70..99 are 19xx, 0..69 are 20xx.
		if t.Precision == 2 && y < 100 {
			if y < 70 {
				y += 2000
			} else {
				y += 1900
			}
		}
		return y, nil
	case KindBit:
		return bigEndianUint(raw)
	case KindDecimal:
		return parseDecimalOf(t, s)
	case KindFloat:
		f, err := strconv.ParseFloat(s, 64)
		return float64(float32(f)), err
	case KindDouble:
		return strconv.ParseFloat(s, 64)
	case KindDate:
		return parseDateValue(s)
	case KindDateTime:
		return parseDateTimeValue(s, t)
	case KindTimestamp:
		if strings.IndexByte(s, '-') >= 0 {
			return parseDateTimeValue(s, t)
		}
		return parseUnixValue(s, t)
	case KindTime:
		return parseTimeValue(s, t)
	case KindChar, KindVarChar, KindText, KindEnum, KindSet:
		return s, nil
	case KindJSON:
		return normalizeJSON(s), nil
	case KindBinary, KindVarBinary, KindBlob:
		return cloneValueBytes(raw), nil
	case KindGeometry:
		return stripSRID(raw)
	}
	return nil, fmt.Errorf("kind %s has no decoding", t.Kind)
}

// SelectExpr returns the select-list expression a snapshot query uses for
// col, so that FromText gets the exact value the binlog carries: the quoted
// column name, or for FLOAT/DOUBLE "CAST(`c` AS DOUBLE) AS `c`" and for
// TIMESTAMP "UNIX_TIMESTAMP(`c`) AS `c`". The result column keeps the
// column's name. See FromText for why.
func SelectExpr(col Column) string {
	id := QuoteIdent(col.Name)
	switch col.Type.Kind {
	case KindFloat, KindDouble:
		return "CAST(" + id + " AS DOUBLE) AS " + id
	case KindTimestamp:
		return "UNIX_TIMESTAMP(" + id + ") AS " + id
	}
	return id
}

// QuoteIdent quotes a MySQL identifier with backticks, doubling any
// backtick inside it.
func QuoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}
