package config

import (
	"strings"
	"testing"
)

const columnsBase = `
sources:
  - name: shop
    flavor: mariadb
    host: 127.0.0.1
    port: 3306
    user: tidemark
    server_id: 4242
    databases: [shop]
    columns:
      exclude: [shop.customers.ssn, shop.orders.note]
      mask: [shop.customers.email, shop.orders.card]
redis:
  addr: 127.0.0.1:6379
views:
`

func TestColumnsPolicy(t *testing.T) {
	ok := columnsBase + `
  - name: by_card
    from: shop.orders
    where: "card IS NOT NULL"
    group_by: [card]
    measures: ["count()", "count(card)", "sum(amount)"]
  - name: customers
    from: shop.customers
    mirror: true
    columns: [id, email]
`
	c, err := Parse([]byte(ok), []string{"TIDEMARK_SOURCES_0_COLUMNS_MASK_KEY=0123456789abcdef0123"})
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Sources[0].Columns; string(got.MaskKey) != "0123456789abcdef0123" || len(got.Exclude) != 2 || len(got.Mask) != 2 {
		t.Errorf("columns: %+v", got)
	}
	if s := c.Sources[0].Columns.MaskKey.String(); strings.Contains(s, "0123") {
		t.Errorf("mask key prints as %q", s)
	}

	for _, tc := range []struct {
		name, yaml string
		env        []string
		want       []string
	}{
		{"no key", ok, nil, []string{"sources[0].columns.mask_key: required", "TIDEMARK_SOURCES_0_COLUMNS_MASK_KEY"}},
		{"short key", ok, []string{"TIDEMARK_SOURCES_0_COLUMNS_MASK_KEY=short"}, []string{"sources[0].columns.mask_key: 5 bytes"}},
		{"bad entries", strings.Replace(columnsBase, "exclude: [shop.customers.ssn, shop.orders.note]",
			"exclude: [shop.customers, crm.users.ssn, shop.customers.EMAIL]", 1) + "  []\n", []string{"TIDEMARK_SOURCES_0_COLUMNS_MASK_KEY=0123456789abcdef"},
			[]string{`sources[0].columns.exclude[0]: "shop.customers": want db.table.column`,
				`sources[0].columns.exclude[1]: "crm.users.ssn": table crm.users is not captured`,
				`sources[0].columns.mask[0]: "shop.customers.email" is already listed at sources[0].columns.exclude[2]`}},
		{"partitions", strings.Replace(ok, "redis:", "batch:\n  partitions:\n    shop.orders: [\"day(created_at)\", \"truncate(2, card) AS c\"]\n    shop.customers: [ssn]\nredis:", 1),
			[]string{"TIDEMARK_SOURCES_0_COLUMNS_MASK_KEY=0123456789abcdef"},
			[]string{`batch.partitions["shop.orders"][1]: "truncate(2, card) AS c": column shop.orders.card is masked by sources[0].columns.mask[1]`,
				`batch.partitions["shop.customers"][0]: "ssn": column shop.customers.ssn is excluded by sources[0].columns.exclude[0]`}},
		{"views", columnsBase + `
  - name: v1
    from: shop.orders
    where: "note IS NOT NULL AND card IS NOT NULL AND (amount > 0 OR card = 'x')"
    group_by: ["day(created_at)", "truncate(3, note) AS n", "truncate(2, card) AS c2"]
    measures: ["count()", "count(note)", "sum(card)", "avg(card)", "count(card)"]
  - name: v2
    from: shop.customers
    mirror: true
    columns: [id, ssn, email]
`, []string{"TIDEMARK_SOURCES_0_COLUMNS_MASK_KEY=0123456789abcdef"},
			[]string{"views[0].group_by[1]: column shop.orders.note is excluded by sources[0].columns.exclude[1]",
				"views[0].measures[1]: column shop.orders.note is excluded",
				"views[0].group_by[2]: column shop.orders.card is masked",
				"views[0].measures[2]: column shop.orders.card is masked by sources[0].columns.mask[1]",
				"views[0].measures[3]: column shop.orders.card is masked",
				"views[0].where: column shop.orders.note is excluded",
				"views[0].where: column shop.orders.card is masked",
				"views[1].columns[1]: column shop.customers.ssn is excluded by sources[0].columns.exclude[0]"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml), tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if tc.name == "views" {
				for _, not := range []string{"measures[4]", "measures[0]", "group_by[0]", "columns[2]", "columns[0]"} {
					if strings.Contains(err.Error(), not) {
						t.Errorf("%s refused, it uses no excluded column and no masked one wrongly:\n%v", not, err)
					}
				}
			}
		})
	}
}
