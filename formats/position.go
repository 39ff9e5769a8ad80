package formats

import (
	"fmt"
	"strconv"
	"strings"
)

// Position is where a change sits in a source's binlog: the coordinates of
// its transaction's commit (File, Offset), the transaction's GTID when the
// server has one, and the row's index within the transaction.
//
// Positions are totally ordered by (File, Offset, Row); GTID is carried for
// operators and GTID-based resume but takes no part in the order, because a
// binlog is one ordered stream and its coordinates already order it.
// Checkpoints only ever land on commits (Row == 0 marks "the whole
// transaction").
type Position struct {
	// File is the binlog file name, e.g. "mariadb-bin.000042".
	File string
	// Offset is the end position of the transaction's commit event in File.
	Offset uint32
	// GTID is the transaction's global id ("0-1-42" on MariaDB,
	// "uuid:42" on MySQL) or "" where the server has none.
	GTID string
	// Row is the row's index within its transaction, counted from 1;
	// 0 means the transaction as a whole (its commit).
	Row uint32
}

// IsZero reports whether p is the zero Position, which sorts before every
// real position.
func (p Position) IsZero() bool { return p.File == "" && p.Offset == 0 && p.Row == 0 }

// Compare returns -1, 0 or +1 as p sorts before, equal to or after q.
//
// Binlog file names share one base name and a zero-padded sequence number,
// so comparing names as strings orders them; a longer name (the sequence
// number outgrew its padding) sorts after a shorter one.
func (p Position) Compare(q Position) int {
	if c := compareFile(p.File, q.File); c != 0 {
		return c
	}
	switch {
	case p.Offset < q.Offset:
		return -1
	case p.Offset > q.Offset:
		return 1
	case p.Row < q.Row:
		return -1
	case p.Row > q.Row:
		return 1
	}
	return 0
}

func compareFile(a, b string) int {
	if len(a) != len(b) && a != "" && b != "" {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

// Less reports whether p sorts before q.
func (p Position) Less(q Position) bool { return p.Compare(q) < 0 }

// Commit returns p with Row cleared: the position of p's transaction commit.
func (p Position) Commit() Position { p.Row = 0; return p }

// String renders p as "file:offset:row[@gtid]" with offset and row
// zero-padded, so that string order equals Compare order for positions of
// one server. ParsePosition reads it back.
func (p Position) String() string {
	return string(p.AppendTo(make([]byte, 0, len(p.File)+19+len(p.GTID))))
}

// AppendTo appends the String form of p to dst: the speed layer renders a
// position per mirror row and per script call, so it is built by hand,
// not with fmt.
func (p Position) AppendTo(dst []byte) []byte {
	dst = append(dst, p.File...)
	dst = append(dst, ':')
	dst = appendPadded(dst, uint64(p.Offset), 10)
	dst = append(dst, ':')
	dst = appendPadded(dst, uint64(p.Row), 6)
	if p.GTID != "" {
		dst = append(dst, '@')
		dst = append(dst, p.GTID...)
	}
	return dst
}

// appendPadded appends n in decimal, zero-padded to at least width digits.
func appendPadded(dst []byte, n uint64, width int) []byte {
	var buf [20]byte
	i := len(buf)
	for n >= 10 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	buf[i] = byte('0' + n)
	for len(buf)-i < width {
		dst = append(dst, '0')
		width--
	}
	return append(dst, buf[i:]...)
}

// ParsePosition parses the form String writes.
func ParsePosition(s string) (Position, error) {
	var p Position
	body := s
	if i := strings.IndexByte(s, '@'); i >= 0 {
		body, p.GTID = s[:i], s[i+1:]
	}
	parts := strings.Split(body, ":")
	if len(parts) != 3 || parts[0] == "" {
		return Position{}, fmt.Errorf("parsing position %q: want file:offset:row[@gtid]", s)
	}
	off, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return Position{}, fmt.Errorf("parsing position %q: offset: %w", s, err)
	}
	row, err := strconv.ParseUint(parts[2], 10, 32)
	if err != nil {
		return Position{}, fmt.Errorf("parsing position %q: row: %w", s, err)
	}
	p.File, p.Offset, p.Row = parts[0], uint32(off), uint32(row)
	return p, nil
}
