package postgres

import (
	"encoding/binary"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"
)

// decodeNumeric decodes one binary COPY numeric field (length prefix
// included) with pgx's own codec, and returns its value and display scale.
func decodeNumeric(t *testing.T, field []byte) (*big.Rat, int) {
	t.Helper()
	n := int(int32(binary.BigEndian.Uint32(field)))
	if n != len(field)-4 {
		t.Fatalf("field length %d, %d bytes follow", n, len(field)-4)
	}
	v, err := pgtype.NumericCodec{}.DecodeValue(pgtype.NewMap(), pgtype.NumericOID, pgtype.BinaryFormatCode, field[4:])
	if err != nil {
		t.Fatal(err)
	}
	num := v.(pgtype.Numeric)
	r := new(big.Rat).SetInt(num.Int)
	exp := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs32(num.Exp))), nil)
	if num.Exp >= 0 {
		r.Mul(r, new(big.Rat).SetInt(exp))
	} else {
		r.Quo(r, new(big.Rat).SetInt(exp))
	}
	return r, int(binary.BigEndian.Uint16(field[10:12]))
}

func abs32(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// TestNumericEncoding: decimals of every shape encode to binary numerics
// that pgx decodes to the same value, with the column's scale.
func TestNumericEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []string{"0", "0.00", "-0.01", "1", "-1", "9999", "10000", "12345678.9", "0.0001", "0.00001",
		"-99999999999999999999999999999999999.999999999999999999999999999999", "100000000", "1.5", "-12.50"}
	for range 2000 {
		var sb strings.Builder
		if rng.IntN(2) == 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(strconv.FormatUint(rng.Uint64()>>rng.IntN(64), 10))
		if scale := rng.IntN(31); scale > 0 {
			sb.WriteByte('.')
			for range scale {
				sb.WriteByte(byte('0' + rng.IntN(10)))
			}
		}
		cases = append(cases, sb.String())
	}
	for _, s := range cases {
		want, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatal(s)
		}
		scale := 0
		if i := strings.IndexByte(s, '.'); i >= 0 {
			scale = len(s) - i - 1
		}
		got, dscale := decodeNumeric(t, appendNumericText(nil, s))
		if got.Cmp(want) != 0 || dscale != scale {
			t.Fatalf("%s: decoded %s scale %d", s, got.FloatString(scale), dscale)
		}
	}
	// 128-bit integers (DECIMAL(P<=38) travel as decimal128).
	for range 2000 {
		hi, lo := rng.Uint64()>>rng.IntN(64), rng.Uint64()
		want := new(big.Int).Lsh(new(big.Int).SetUint64(hi), 64)
		want.Or(want, new(big.Int).SetUint64(lo))
		if got := string(appendU128(nil, hi, lo)); got != want.String() {
			t.Fatalf("appendU128(%d, %d) = %s, want %s", hi, lo, got, want)
		}
	}
}
