package redshift

import (
	"context"
	"strings"
)

// isCopy reports whether sql is a COPY statement.
func isCopy(sql string) bool {
	return len(sql) >= 5 && strings.EqualFold(strings.TrimSpace(sql)[:5], "COPY ")
}

// loadErrors reads sys_load_error_detail for a failed COPY; the rows are
// kept by Redshift outside the rolled-back transaction. A failure to read
// them yields none: the COPY's own error is what the caller reports.
func loadErrors(ctx context.Context, e Executor, queryID int64) []LoadError {
	rows, err := e.Query(ctx, LoadErrorsSQL(queryID))
	if err != nil {
		return nil
	}
	out := make([]LoadError, 0, len(rows))
	for _, r := range rows {
		if len(r) < 6 {
			continue
		}
		out = append(out, LoadError{File: asString(r[0]), Line: asInt(r[1]), Column: asString(r[2]),
			ColumnType: asString(r[3]), Code: asInt(r[4]), Message: asString(r[5])})
	}
	return out
}

func asString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	}
	return strings.TrimSpace(strings.Trim(strings.TrimSpace(toString(v)), "\x00"))
}

func asInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int32:
		return int64(x)
	case int:
		return int64(x)
	case float64:
		return int64(x)
	}
	return 0
}
