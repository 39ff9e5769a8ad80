package config

import (
	"strings"
	"testing"

	"github.com/tidemark/tidemark/formats"
)

// withSection appends YAML to the good config: a batch section, a second
// source, a view.
func withSection(extra string) []byte { return []byte(good + extra) }

const secondSource = `
  - name: crm
    flavor: mariadb
    host: 127.0.0.1
    port: 3307
    user: tidemark
    server_id: 4243
`

// goodWith returns the good config with its sources list extended by more
// (YAML list items) and the rest appended.
func goodWith(moreSources, rest string) []byte {
	doc := strings.Replace(good, "    databases: [shop]\n", "    databases: [shop]\n"+strings.TrimPrefix(moreSources, "\n"), 1)
	return []byte(doc + rest)
}

func TestValidateTables(t *testing.T) {
	cases := []struct {
		name string
		doc  []byte
		want []string // each a line of the error; none: valid
	}{
		{"partitions ok", withSection("batch:\n  partitions:\n    shop.orders: [\"day(created_at) AS dt\", \"truncate(100, id)\"]\n    shop.customers: [country]\n"), nil},
		{"partition key misspelt", withSection("batch:\n  partitions:\n    shop.ordres: [\"day(created_at)\"]\n"),
			[]string{`batch.partitions["shop.ordres"]: shop.ordres is not a table the batch rebuilds`}},
		{"partition key not db.table", withSection("batch:\n  partitions:\n    orders: [status]\n"),
			[]string{`batch.partitions["orders"]: "orders": want db.table`}},
		{"partition spec malformed", withSection("batch:\n  partitions:\n    shop.orders: [status, \"dya(created_at)\"]\n"),
			[]string{`batch.partitions["shop.orders"][1]: "dya(created_at)": unknown transform "dya"`}},
		{"partition of a history table", withSection("batch:\n  history: [shop.payments]\n  partitions:\n    shop.payments: [\"month(paid_at)\"]\n"), nil},
		{"view table captured twice", goodWith(secondSource+"    databases: [shop]\n", ""),
			[]string{`views[0].from: shop.orders is captured by 2 sources (shop and crm); capture it from one`,
				`views[1].from: shop.customers is captured by 2 sources (shop and crm)`}},
		{"view table not captured", withSection("  - name: people\n    from: crm.people\n    mirror: true\n"),
			[]string{`views[2].from: crm.people is not captured by any source; add "crm" to a source's databases or "crm.people" to its tables`}},
		{"history of a source without views", goodWith(secondSource+"    tables: [crm.people]\n", "batch:\n  history: [crm.people]\n"),
			[]string{`batch.history[0]: crm.people is captured by source crm, which has no views`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(tc.doc, []string{})
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("want valid, got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestCapturingSource(t *testing.T) {
	c, err := Parse(goodWith(secondSource+"    tables: [crm.people]\n", ""), []string{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		table string
		want  int
	}{{"shop.orders", 0}, {"crm.people", 1}, {"crm.accounts", -1}, {"other.x", -1}} {
		id, err := formats.ParseTableID(tc.table)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.CapturingSource(id); got != tc.want {
			t.Errorf("CapturingSource(%s) = %d, want %d", tc.table, got, tc.want)
		}
	}
}
