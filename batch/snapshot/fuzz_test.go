package snapshot

import (
	"testing"
)

// FuzzParsePartitionSpec: any spec text parses or fails with an error.
func FuzzParsePartitionSpec(f *testing.F) {
	s := allTypesTable(f)
	for _, seed := range []string{"day(dtm) AS dday", "truncate(10, id)", "en", "hour(ts)", "truncate(-1, vc)", "(", "a AS"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		ps, err := ParsePartitionSpec([]string{spec}, s)
		if err == nil && len(ps.Fields) != 1 {
			t.Fatalf("%q: %d fields", spec, len(ps.Fields))
		}
		if err == nil {
			EscapeHive(ps.Fields[0].String())
		}
	})
}
