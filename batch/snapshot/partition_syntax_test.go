package snapshot

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPartitionSpec(t *testing.T) {
	for _, c := range []struct {
		spec []string
		want string // "" valid, else a substring of the error
	}{
		{nil, ""},
		{[]string{"day(created_at) AS dt", "status", "truncate(1000, id)", "month(`created_at`)"}, ""},
		{[]string{"DAY(created_at)", "hour(created_at)"}, ""},
		{[]string{"dya(created_at)"}, `partition[0] "dya(created_at)": unknown transform "dya"`},
		{[]string{"status", "truncate(id)"}, "partition[1] \"truncate(id)\": truncate needs a width"},
		{[]string{"truncate(0, id)"}, "truncate width 0"},
		{[]string{"day(3, created_at)"}, "day takes one argument"},
		{[]string{"day(created_at"}, "want col, transform(col)"},
		{[]string{"day(a) AS k", "month(b) AS K"}, `folder key "k" is used twice`},
		{[]string{"status", "status"}, `folder key "status_part" is used twice`},
	} {
		err := CheckPartitionSpec(c.spec)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("CheckPartitionSpec(%q): %v", c.spec, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("CheckPartitionSpec(%q) = %v, want an error with %q", c.spec, err, c.want)
		}
	}
	err := CheckPartitionSpec([]string{"status", "day(a)", "truncate(-1, id)"})
	if fe, ok := errors.AsType[*FieldError](err); !ok || fe.Index != 2 || fe.Field != "truncate(-1, id)" {
		t.Errorf("CheckPartitionSpec error %#v: want a *FieldError of field 2", err)
	}
}
