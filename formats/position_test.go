package formats

import (
	"fmt"
	"math"
	"testing"
)

// TestPositionString holds the hand-built String against the fmt form it
// replaces, and ParsePosition reads it back.
func TestPositionString(t *testing.T) {
	for _, p := range []Position{
		{},
		{File: "mariadb-bin.000001", Offset: 4},
		{File: "mariadb-bin.000042", Offset: 1337, Row: 7, GTID: "0-1-42"},
		{File: "b.1", Offset: math.MaxUint32, Row: math.MaxUint32, GTID: "3e11fa47-71ca-11e1-9e33-c80aa9429562:23"},
		{File: "mysql-bin.1000000", Offset: 1234567890, Row: 123456},
	} {
		want := fmt.Sprintf("%s:%010d:%06d", p.File, p.Offset, p.Row)
		if p.GTID != "" {
			want += "@" + p.GTID
		}
		if got := p.String(); got != want {
			t.Errorf("%#v: %q, want %q", p, got, want)
		}
		if p.File == "" {
			continue
		}
		q, err := ParsePosition(p.String())
		if err != nil || q != p {
			t.Errorf("%q read back as %#v, %v", p.String(), q, err)
		}
	}
}
