package reporting

import (
	"testing"

	"github.com/tidemark/tidemark/formats"
)

// TestGVizTypeByTypeMap: every column type gets the DataTable type of its
// values' Go type in the type map.
func TestGVizTypeByTypeMap(t *testing.T) {
	for typ, want := range map[string]string{
		"tinyint": "number", "int unsigned": "number", "bigint unsigned": "number", "year": "number",
		"bit(8)": "number", "bit(64)": "number", "decimal(10,2)": "number", "decimal(60,4)": "number",
		"float": "number", "double": "number",
		"date": "date", "datetime(3)": "datetime", "timestamp(6)": "datetime", "time": "timeofday",
		"varchar(10)": "string", "text": "string", "enum('a','b')": "string", "set('x')": "string",
		"json": "string", "varbinary(4)": "string", "blob": "string", "geometry": "string",
	} {
		ty, err := formats.ParseColumnType(typ)
		if err != nil {
			t.Fatal(err)
		}
		if got := gvizType(ty); got != want {
			t.Errorf("gvizType(%s) = %q, want %q", typ, got, want)
		}
	}
}
