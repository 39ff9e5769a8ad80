package postgres

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strconv"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"

	"github.com/tidemark/tidemark/formats"
)

// This file encodes Arrow record batches (typed by the one type map) as
// PostgreSQL's binary COPY format, column type by column type as
// formats.PostgresType declares them: no per-value reflection and no
// canonical Go values in between.

// copyHeader starts a binary COPY stream: the signature, flags, and the
// header extension length.
var copyHeader = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")

// copyTrailer ends it: a tuple field count of -1.
var copyTrailer = []byte{0xff, 0xff}

// PostgreSQL's epoch is 2000-01-01.
const (
	pgEpochMicros = 946684800 * 1_000_000
	pgEpochDays   = 10957
)

// fieldEncoder appends row i of arr as one binary COPY field (length and
// bytes; -1 for NULL).
type fieldEncoder func(dst []byte, arr arrow.Array, i int) []byte

var nullField = []byte{0xff, 0xff, 0xff, 0xff}

func appendLen(dst []byte, n int) []byte { return binary.BigEndian.AppendUint32(dst, uint32(n)) }

// encoderFor returns the encoder of a column of type t, whose Arrow data is
// formats.ArrowType(t).
func encoderFor(t formats.Type) (fieldEncoder, error) {
	pt := formats.PostgresType(t)
	switch at := formats.ArrowType(t).(type) {
	case *arrow.Int64Type:
		if pt != "bigint" {
			break
		}
		return func(dst []byte, arr arrow.Array, i int) []byte {
			return binary.BigEndian.AppendUint64(appendLen(dst, 8), uint64(arr.(*array.Int64).Value(i)))
		}, nil
	case *arrow.Uint64Type:
		switch pt {
		case "bigint": // fits: 32-bit unsigned, BIT(M<64)
			return func(dst []byte, arr arrow.Array, i int) []byte {
				return binary.BigEndian.AppendUint64(appendLen(dst, 8), arr.(*array.Uint64).Value(i))
			}, nil
		case "numeric(20,0)":
			return func(dst []byte, arr arrow.Array, i int) []byte {
				var digits [20]byte
				d := strconv.AppendUint(digits[:0], arr.(*array.Uint64).Value(i), 10)
				return appendNumeric(dst, d, 0, false)
			}, nil
		}
	case *arrow.Float64Type:
		return func(dst []byte, arr arrow.Array, i int) []byte {
			return binary.BigEndian.AppendUint64(appendLen(dst, 8), math.Float64bits(arr.(*array.Float64).Value(i)))
		}, nil
	case *arrow.Decimal128Type:
		scale := int(at.Scale)
		return func(dst []byte, arr arrow.Array, i int) []byte {
			n := arr.(*array.Decimal128).Value(i)
			neg := n.Sign() < 0
			if neg {
				n = n.Negate()
			}
			var digits [40]byte
			return appendNumeric(dst, appendU128(digits[:0], uint64(n.HighBits()), n.LowBits()), scale, neg)
		}, nil
	case *arrow.Date32Type:
		return func(dst []byte, arr arrow.Array, i int) []byte {
			return binary.BigEndian.AppendUint32(appendLen(dst, 4), uint32(int32(arr.(*array.Date32).Value(i))-pgEpochDays))
		}, nil
	case *arrow.TimestampType:
		if at.Unit != arrow.Microsecond {
			break
		}
		return func(dst []byte, arr arrow.Array, i int) []byte {
			return binary.BigEndian.AppendUint64(appendLen(dst, 8), uint64(int64(arr.(*array.Timestamp).Value(i))-pgEpochMicros))
		}, nil
	case *arrow.DurationType:
		if at.Unit != arrow.Microsecond || pt != "interval" {
			break
		}
		return func(dst []byte, arr arrow.Array, i int) []byte {
			dst = binary.BigEndian.AppendUint64(appendLen(dst, 16), uint64(arr.(*array.Duration).Value(i)))
			return append(dst, 0, 0, 0, 0, 0, 0, 0, 0) // days, months
		}, nil
	case *arrow.StringType:
		switch {
		case pt == "jsonb":
			return func(dst []byte, arr arrow.Array, i int) []byte {
				v := arr.(*array.String).Value(i)
				return append(append(appendLen(dst, len(v)+1), 1), v...) // jsonb version 1, then the text
			}, nil
		case t.Kind == formats.KindDecimal: // DECIMAL(P>38): exact text
			return func(dst []byte, arr arrow.Array, i int) []byte {
				return appendNumericText(dst, arr.(*array.String).Value(i))
			}, nil
		}
		return func(dst []byte, arr arrow.Array, i int) []byte {
			v := arr.(*array.String).Value(i)
			return append(appendLen(dst, len(v)), v...)
		}, nil
	case *arrow.BinaryType:
		return func(dst []byte, arr arrow.Array, i int) []byte {
			v := arr.(*array.Binary).Value(i)
			return append(appendLen(dst, len(v)), v...)
		}, nil
	}
	return nil, fmt.Errorf("no binary COPY encoding for %s (Arrow %s, PostgreSQL %s)", t, formats.ArrowType(t), pt)
}

// appendU128 appends the decimal digits of the unsigned 128-bit hi:lo.
func appendU128(dst []byte, hi, lo uint64) []byte {
	if hi == 0 {
		return strconv.AppendUint(dst, lo, 10)
	}
	// Split off 19 decimal digits at a time (10^19 < 2^64).
	const chunk = 10_000_000_000_000_000_000
	var parts [3]uint64
	n := 0
	for hi != 0 {
		var r uint64
		hi, r = bits.Div64(0, hi, chunk)
		lo, r = bits.Div64(r, lo, chunk)
		parts[n] = r
		n++
	}
	dst = strconv.AppendUint(dst, lo, 10)
	for n--; n >= 0; n-- {
		var b [19]byte
		s := strconv.AppendUint(b[:0], parts[n], 10)
		for k := len(s); k < 19; k++ {
			dst = append(dst, '0')
		}
		dst = append(dst, s...)
	}
	return dst
}

// appendNumeric appends a numeric field: the value digits × 10^-scale
// (digits: decimal digits of the absolute value), negative when neg. The
// binary form is base-10000 digits with a weight (the exponent of the
// first), a sign and the display scale.
func appendNumeric(dst []byte, digits []byte, scale int, neg bool) []byte {
	// Pad so the integer part is at least one digit and both parts group
	// into fours around the decimal point.
	intLen := len(digits) - scale
	lead := 0
	if intLen <= 0 {
		lead = -intLen + 1
		intLen = 1
	}
	lead += (4 - intLen%4) % 4
	intLen += (4 - intLen%4) % 4
	total := lead + len(digits)
	trail := (4 - (total-intLen)%4) % 4
	total += trail
	at := func(k int) int { // digit k of the padded string
		k -= lead
		if k < 0 || k >= len(digits) {
			return 0
		}
		return int(digits[k] - '0')
	}
	var groups [64]uint16
	ng := 0
	for k := 0; k < total; k += 4 {
		groups[ng] = uint16(at(k)*1000 + at(k+1)*100 + at(k+2)*10 + at(k+3))
		ng++
	}
	weight := intLen/4 - 1
	first, last := 0, ng
	for first < last && groups[first] == 0 {
		first++
		weight--
	}
	for last > first && groups[last-1] == 0 {
		last--
	}
	var sign uint16
	if first == last {
		weight, neg = 0, false
	}
	if neg {
		sign = 0x4000
	}
	nd := last - first
	dst = appendLen(dst, 8+2*nd)
	dst = binary.BigEndian.AppendUint16(dst, uint16(nd))
	dst = binary.BigEndian.AppendUint16(dst, uint16(int16(weight)))
	dst = binary.BigEndian.AppendUint16(dst, sign)
	dst = binary.BigEndian.AppendUint16(dst, uint16(scale))
	for _, g := range groups[first:last] {
		dst = binary.BigEndian.AppendUint16(dst, g)
	}
	return dst
}

// appendNumericText appends a numeric field from a decimal's text
// ("-12.50"), as formats.Decimal spells it.
func appendNumericText(dst []byte, s string) []byte {
	neg := len(s) > 0 && s[0] == '-'
	if neg || len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	var buf [80]byte
	digits := buf[:0]
	scale := 0
	seenPoint := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			seenPoint = true
		case c >= '0' && c <= '9':
			if len(digits) > 0 || c != '0' || seenPoint {
				digits = append(digits, c)
			}
			if seenPoint {
				scale++
			}
		}
	}
	if len(digits) == 0 {
		digits = append(digits, '0')
	}
	return appendNumeric(dst, digits, scale, neg)
}

// rowEncoder encodes whole rows of a record batch.
type rowEncoder struct {
	cols []fieldEncoder
	// bound are the columns of the record last bound (bind).
	bound []boundColumn
	rec   arrow.Record
}

type boundColumn struct {
	arr   arrow.Array
	nulls bool // the array has NULLs: check each row
	enc   fieldEncoder
}

func newRowEncoder(cols []formats.Column) (*rowEncoder, error) {
	e := &rowEncoder{cols: make([]fieldEncoder, len(cols)), bound: make([]boundColumn, len(cols))}
	for i, c := range cols {
		enc, err := encoderFor(c.Type)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		e.cols[i] = enc
	}
	return e, nil
}

func (e *rowEncoder) bind(rec arrow.Record) {
	if e.rec == rec {
		return
	}
	e.rec = rec
	for c := range e.cols {
		arr := rec.Column(c)
		e.bound[c] = boundColumn{arr: arr, nulls: arr.NullN() > 0, enc: e.cols[c]}
	}
}

// appendRow appends row i of rec as one COPY tuple.
func (e *rowEncoder) appendRow(dst []byte, rec arrow.Record, i int) []byte {
	e.bind(rec)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(e.cols)))
	for c := range e.bound {
		b := &e.bound[c]
		if b.nulls && b.arr.IsNull(i) {
			dst = append(dst, nullField...)
			continue
		}
		dst = b.enc(dst, b.arr, i)
	}
	return dst
}
