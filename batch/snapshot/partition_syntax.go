package snapshot

import (
	"fmt"
	"strconv"
	"strings"
)

// FieldError is a CheckPartitionSpec error: what is wrong with field Index
// (Field its text) of the spec.
type FieldError struct {
	Index int
	Field string
	Err   error
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("partition[%d] %q: %v", e.Index, e.Field, e.Err)
}

func (e *FieldError) Unwrap() error { return e.Err }

// CheckPartitionSpec checks what of a partition spec can be checked without
// the table's schema, so that config validation refuses a malformed spec at
// start-up rather than at the first rebuild: each field's syntax, transform
// and width, and folder keys given twice with AS. The columns, their types
// and the default folder keys are checked by ParsePartitionSpec against the
// schema the rebuild reads. An error is a *FieldError.
func CheckPartitionSpec(spec []string) error {
	names := map[string]bool{}
	for i, s := range spec {
		f, col, err := parsePartitionSyntax(s)
		if err != nil {
			return &FieldError{Index: i, Field: s, Err: err}
		}
		key := strings.ToLower(f.Name)
		if key == "" {
			key = strings.ToLower(col + folderSuffix[f.Transform])
		}
		if names[key] {
			return &FieldError{Index: i, Field: s, Err: fmt.Errorf("folder key %q is used twice; give one another name with AS", key)}
		}
		names[key] = true
	}
	return nil
}

// parsePartitionSyntax reads one partition field without a schema: its
// transform, width and AS name (f.Name, "" when not given) and the column
// it names, unquoted.
func parsePartitionSyntax(s string) (f PartitionField, col string, err error) {
	m := partitionRe.FindStringSubmatch(s)
	if m == nil {
		return f, "", fmt.Errorf("want col, transform(col) or truncate(W, col), optionally followed by AS name")
	}
	col = m[3]
	switch {
	case m[4] != "":
		col, f.Transform = m[4], Identity
	default:
		t, ok := transformNames[strings.ToLower(m[1])]
		if !ok {
			return f, "", fmt.Errorf("unknown transform %q (want identity, year, month, day, hour or truncate)", m[1])
		}
		f.Transform = t
		if (t == Truncate) != (m[2] != "") {
			if t == Truncate {
				return f, "", fmt.Errorf("truncate needs a width: truncate(W, col)")
			}
			return f, "", fmt.Errorf("%s takes one argument, the column", t)
		}
		if t == Truncate {
			w, err := strconv.ParseInt(m[2], 10, 64)
			if err != nil || w <= 0 {
				return f, "", fmt.Errorf("truncate width %s: want an integer > 0", m[2])
			}
			f.Width = w
		}
	}
	f.Name = m[5]
	return f, strings.Trim(col, "`"), nil
}
