package e2e

import (
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// rkey is a group key of a view under test: its API name, the SQL that
// computes it on the source, the values it takes there, and whether a
// range over it means the same on both sides (numbers, and dates and months
// in their sortable text form).
type rkey struct {
	name, sql string
	values    []string
	ordered   bool
}

// rview is an aggregate view of workload.Views as SQL on the source.
type rview struct {
	name, from, where string
	keys              []*rkey
	measures          []string // SQL, in the view's measure order
	measureNames      []string
	joinKey           string // key joinable to customers, "" if none
}

// TestAPIRandomQueriesEqualSource: seeded random filter, IN, range, NULL,
// group_by, join, order and paging queries on the workload's aggregate
// views, and mirror lookups, each checked against the same query on the
// source after catch-up.
func TestAPIRandomQueriesEqualSource(t *testing.T) {
	// Strict answers: the comparison is with the source as it is now.
	e := newEnv(t, envOptions{apiYAML: "  max_staleness: -1ns\n"})
	ctx := context.Background()
	g := e.workload(91, 1)
	if err := g.Seed(ctx, 80, 2000); err != nil {
		t.Fatal(err)
	}
	p, base := e.startAPI(t)
	if err := g.Run(ctx, 400, 0); err != nil {
		t.Fatal(err)
	}
	e.verify(t) // caught up

	distinct := func(q string) []string {
		var out []string
		for _, r := range sqlRows(t, e.db, q) {
			out = append(out, r[0])
		}
		if len(out) == 0 {
			t.Fatalf("%s: no values", q)
		}
		return out
	}
	day := &rkey{"day", "DATE_FORMAT(o.created_at, '%Y-%m-%d')", distinct("SELECT DISTINCT DATE_FORMAT(created_at, '%Y-%m-%d') FROM shop.orders"), true}
	status := &rkey{"status", "o.status", []string{"new", "paid", "shipped", "cancelled"}, false}
	customer := &rkey{"customer_id", "o.customer_id", distinct("SELECT DISTINCT customer_id FROM shop.orders"), true}
	bucket := &rkey{"qty_bucket", "FLOOR(o.qty / 5) * 5", distinct("SELECT DISTINCT FLOOR(qty / 5) * 5 FROM shop.orders"), true}
	month := &rkey{"created_at_month", "DATE_FORMAT(o.created_at, '%Y-%m')", distinct("SELECT DISTINCT DATE_FORMAT(created_at, '%Y-%m') FROM shop.orders"), true}
	views := []rview{
		{name: "revenue_by_day", from: "shop.orders", where: "o.status <> 'cancelled' AND o.amount > 0",
			keys:         []*rkey{day, status},
			measures:     []string{"COUNT(*)", "SUM(o.amount)", "AVG(o.amount)"},
			measureNames: []string{"orders", "revenue", "avg_amount"}},
		{name: "orders_by_customer", from: "shop.orders",
			keys:         []*rkey{customer},
			measures:     []string{"COUNT(*)", "SUM(o.qty)", "COUNT(o.amount)", "SUM(o.amount)", "SUM(o.discount)", "AVG(o.qty)"},
			measureNames: []string{"count", "sum_qty", "count_amount", "sum_amount", "sum_discount", "avg_qty"},
			joinKey:      "customer_id"},
		{name: "qty_buckets", from: "shop.orders", where: "(o.note IS NOT NULL OR o.status IN ('paid', 'shipped'))",
			keys:         []*rkey{bucket, month},
			measures:     []string{"COUNT(*)", "AVG(o.discount)"},
			measureNames: []string{"count", "avg_discount"}},
	}
	country := &rkey{"customers.country", "c.country", []string{"DE", "FR", "US", "FI", "JP", "ZZ"}, false}
	cname := &rkey{"customers.name", "c.name", nil, false}
	// A joined answer without group_by carries the mirror's columns.
	mirrorCols := []string{"c.id", "c.name", "c.country", "c.created_at"}

	rng := rand.New(rand.NewPCG(2026, 12))
	pick := func(vs []string) string { return vs[rng.IntN(len(vs))] }
	queries, rowsCompared, joins, pages := 0, 0, 0, 0
	for _, v := range views {
		for range 80 {
			params := url.Values{}
			var where []string
			var args []any
			if v.where != "" {
				where = append(where, v.where)
			}
			join := v.joinKey != "" && rng.IntN(2) == 0
			keys := slices.Clone(v.keys)
			if join {
				params.Set("join", "customers:"+v.joinKey)
				keys = append(keys, country)
			}
			for _, k := range keys {
				if rng.IntN(3) != 0 {
					continue
				}
				switch kind := rng.IntN(4); {
				case kind == 0 && k == country:
					null := rng.IntN(2) == 0
					params.Set(k.name+".null", fmt.Sprint(null))
					if null {
						where = append(where, k.sql+" IS NULL")
					} else {
						where = append(where, k.sql+" IS NOT NULL")
					}
				case kind == 1 && k.ordered:
					lo, hi := pick(k.values), pick(k.values)
					if cmpText(lo, hi) > 0 {
						lo, hi = hi, lo
					}
					switch rng.IntN(3) {
					case 0:
						params.Set(k.name+".from", lo)
						where, args = append(where, k.sql+" >= ?"), append(args, lo)
					case 1:
						params.Set(k.name+".to", hi)
						where, args = append(where, k.sql+" <= ?"), append(args, hi)
					default:
						params.Set(k.name+".from", lo)
						params.Set(k.name+".to", hi)
						where, args = append(where, k.sql+" BETWEEN ? AND ?"), append(args, lo, hi)
					}
				default: // equality, or IN of two or three values
					n := 1 + rng.IntN(3)
					var ph []string
					for range n {
						x := pick(k.values)
						params.Add(k.name, x)
						ph, args = append(ph, "?"), append(args, x)
					}
					where = append(where, k.sql+" IN ("+strings.Join(ph, ", ")+")")
				}
			}
			// Output columns: group_by's (or the view's keys), the
			// measures, then for a join without group_by the mirror's
			// columns.
			var keySQL []string
			grouped := rng.IntN(2) == 0
			if grouped {
				var gb []string
				cands := slices.Clone(v.keys)
				if join {
					cands = append(cands, country, cname)
				}
				for _, k := range cands {
					if rng.IntN(2) == 0 {
						gb = append(gb, k.name)
						keySQL = append(keySQL, k.sql)
					}
				}
				params.Set("group_by", strings.Join(gb, ","))
			} else {
				for _, k := range v.keys {
					keySQL = append(keySQL, k.sql)
				}
			}
			sel := append(slices.Clone(keySQL), v.measures...)
			var groupPos []string
			for i := range keySQL {
				groupPos = append(groupPos, fmt.Sprint(i+1))
			}
			if join && !grouped {
				for i := range mirrorCols {
					groupPos = append(groupPos, fmt.Sprint(len(sel)+i+1))
				}
				sel = append(sel, mirrorCols...)
			}
			q := "SELECT " + strings.Join(sel, ", ") + " FROM " + v.from + " o"
			if join {
				q += " LEFT JOIN shop.customers c ON c.id = o." + v.joinKey
			}
			if len(where) > 0 {
				q += " WHERE " + strings.Join(where, " AND ")
			}
			if len(groupPos) > 0 {
				q += " GROUP BY " + strings.Join(groupPos, ", ")
			}
			q += " HAVING COUNT(*) > 0"
			src := sqlRows(t, e.db, q, args...)

			// Order and page on a measure now and then: the page's values
			// of the order column must be the source's, sorted, sliced.
			orderCol := -1
			if rng.IntN(3) == 0 {
				m := rng.IntN(len(v.measures))
				desc := rng.IntN(2) == 0
				name := v.measureNames[m]
				if desc {
					name = "-" + name
				}
				limit, offset := 1+rng.IntN(15), rng.IntN(4)
				params.Set("order", name)
				params.Set("limit", fmt.Sprint(limit))
				params.Set("offset", fmt.Sprint(offset))
				orderCol = len(keySQL) + m
				sortRowsBy(src, orderCol, desc)
				if offset >= len(src) {
					src = nil
				} else {
					src = src[offset:min(len(src), offset+limit)]
				}
			}
			query := params.Encode()
			api := apiRows(t, base, v.name, query)
			queries, rowsCompared = queries+1, rowsCompared+len(api)
			if join {
				joins++
			}
			if orderCol >= 0 {
				pages++
			}
			if orderCol < 0 {
				if d := diffRows(api, src); d != "" {
					t.Errorf("%s?%s: API differs from the source (%s):\n%s", v.name, query, q, d)
				}
				continue
			}
			if len(api) != len(src) {
				t.Errorf("%s?%s: %d rows, the source's page has %d", v.name, query, len(api), len(src))
				continue
			}
			for i := range api {
				if !sameRow([]string{api[i][orderCol]}, []string{src[i][orderCol]}) {
					t.Errorf("%s?%s: row %d orders by %s, the source's page by %s", v.name, query, i, api[i][orderCol], src[i][orderCol])
					break
				}
			}
		}
	}

	// Mirror lookups: present keys equal the source's row, absent ones 404.
	ids := distinct("SELECT id FROM shop.customers")
	for range 30 {
		id := pick(ids)
		resp, err := http.Get(base + "/v1/tables/shop.customers/rows/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("customer %s: %d", id, resp.StatusCode)
		}
		api := apiRows(t, base, "customers", "id="+id)
		src := sqlRows(t, e.db, "SELECT id, name, country, created_at FROM shop.customers WHERE id = ?", id)
		if d := diffRows(api, src); d != "" {
			t.Errorf("customer %s: API differs from the source:\n%s", id, d)
		}
		queries++
	}
	for _, id := range []string{"1", "999999999999"} {
		resp, err := http.Get(base + "/v1/tables/shop.customers/rows/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Errorf("absent customer %s: %d, want 404", id, resp.StatusCode)
		}
		queries++
	}
	t.Logf("%d queries equal the source (%d view rows compared, %d joins, %d ordered pages)", queries, rowsCompared, joins, pages)
	p.term(t)
}

// cmpText orders two key values: as numbers when both are, else as text.
func cmpText(a, b string) int {
	x, ok1 := new(big.Rat).SetString(a)
	y, ok2 := new(big.Rat).SetString(b)
	if ok1 && ok2 {
		return x.Cmp(y)
	}
	return strings.Compare(a, b)
}

// sortRowsBy sorts rows by column col as the API does: numbers by value,
// NULL first ascending (last descending), stable.
func sortRowsBy(rows [][]string, col int, desc bool) {
	slices.SortStableFunc(rows, func(a, b []string) int {
		c := 0
		switch {
		case a[col] == b[col]:
		case a[col] == "NULL":
			c = -1
		case b[col] == "NULL":
			c = 1
		default:
			c = cmpText(a[col], b[col])
		}
		if desc {
			c = -c
		}
		return c
	})
}
