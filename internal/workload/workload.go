package workload

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Generator drives random transactions against the shop schema. It is not
// safe for concurrent use; run one Generator per goroutine, each with its
// own id Space so their keys never collide.
type Generator struct {
	conn  *sql.DB
	db    string
	rng   *rand.Rand
	space int64 // ids of this generator are space*1e9 + n
	nextO int64
	nextC int64
	nextA int64
	// Stats counts what was committed, for progress lines and rates.
	Stats Stats
}

// Stats counts committed work.
type Stats struct {
	Txns, Rollbacks, RowChanges int64
}

// New returns a generator writing to database db through conn, with its own
// deterministic random stream (seed) and id space (0..8).
func New(conn *sql.DB, db string, seed uint64, space int64) *Generator {
	return &Generator{conn: conn, db: db, rng: rand.New(rand.NewPCG(seed, uint64(space)+1)), space: space}
}

func (g *Generator) id(n int64) int64 { return g.space*1_000_000_000 + n }

var countries = []any{"DE", "FR", "US", "FI", "JP", nil}
var statuses = []string{"new", "paid", "shipped", "cancelled"}
var notes = []any{nil, "", "gift", "express ✈", "naïve café", "emoji 🚀 ok", "quote ' and \\ backslash"}

// Seed inserts customers and orders in batches of 500 rows per transaction.
func (g *Generator) Seed(ctx context.Context, customers, orders int) error {
	for done := 0; done < customers; {
		n := min(500, customers-done)
		if err := g.tx(ctx, func(tx *sql.Tx) error { return g.insertCustomers(ctx, tx, n) }); err != nil {
			return err
		}
		done += n
	}
	for done := 0; done < orders; {
		n := min(500, orders-done)
		if err := g.tx(ctx, func(tx *sql.Tx) error { return g.insertOrders(ctx, tx, n) }); err != nil {
			return err
		}
		done += n
	}
	return nil
}

// Step commits (or rolls back) one random transaction.
func (g *Generator) Step(ctx context.Context) error {
	r := g.rng.IntN(100)
	switch {
	case r < 30:
		return g.tx(ctx, func(tx *sql.Tx) error { return g.insertOrders(ctx, tx, 1+g.rng.IntN(5)) })
	case r < 50:
		return g.tx(ctx, func(tx *sql.Tx) error { return g.updateOrder(ctx, tx) })
	case r < 55:
		return g.tx(ctx, func(tx *sql.Tx) error { return g.changeOrderPK(ctx, tx) })
	case r < 63:
		return g.tx(ctx, func(tx *sql.Tx) error { return g.deleteOrders(ctx, tx) })
	case r < 70:
		return g.tx(ctx, func(tx *sql.Tx) error {
			if g.nextC == 0 || g.rng.IntN(3) == 0 {
				return g.insertCustomers(ctx, tx, 1)
			}
			return g.moveCustomer(ctx, tx)
		})
	case r < 80:
		// Multi-statement transaction touching several tables and groups.
		return g.tx(ctx, func(tx *sql.Tx) error {
			for range 2 + g.rng.IntN(4) {
				var err error
				switch g.rng.IntN(4) {
				case 0:
					err = g.insertOrders(ctx, tx, 1+g.rng.IntN(3))
				case 1:
					err = g.updateOrder(ctx, tx)
				case 2:
					err = g.deleteOrders(ctx, tx)
				default:
					err = g.writeAllTypes(ctx, tx)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
	case r < 85:
		return g.rollback(ctx)
	default:
		return g.tx(ctx, func(tx *sql.Tx) error { return g.writeAllTypes(ctx, tx) })
	}
}

// Run commits n random transactions (n <= 0: until ctx ends), at most rate
// per second when rate > 0.
func (g *Generator) Run(ctx context.Context, n int, rate float64) error {
	var tick <-chan time.Time
	if rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer t.Stop()
		tick = t.C
	}
	for i := 0; n <= 0 || i < n; i++ {
		if tick != nil {
			select {
			case <-ctx.Done():
				return nil
			case <-tick:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		if err := g.Step(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
	return nil
}

// BigTxn commits one transaction that inserts rows orders and then updates
// all of them (2*rows row changes).
func (g *Generator) BigTxn(ctx context.Context, rows int) error {
	return g.tx(ctx, func(tx *sql.Tx) error {
		first := g.nextO
		for done := 0; done < rows; {
			n := min(1000, rows-done)
			if err := g.insertOrders(ctx, tx, n); err != nil {
				return err
			}
			done += n
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s.orders SET qty = qty + 1, status = IF(status = 'new', 'paid', status) WHERE id >= ? AND id < ?", g.db), g.id(first), g.id(g.nextO))
		if err != nil {
			return fmt.Errorf("updating big transaction rows: %w", err)
		}
		n, _ := res.RowsAffected()
		g.Stats.RowChanges += n
		return nil
	})
}

func (g *Generator) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := g.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	before := g.Stats.RowChanges
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		g.Stats.RowChanges = before
		return err
	}
	if err := tx.Commit(); err != nil {
		g.Stats.RowChanges = before
		return fmt.Errorf("committing transaction: %w", err)
	}
	g.Stats.Txns++
	return nil
}

// rollback writes into a transaction and rolls it back: none of it may ever
// reach a view.
func (g *Generator) rollback(ctx context.Context) error {
	tx, err := g.conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	saveO, saveStats := g.nextO, g.Stats
	if err := g.insertOrders(ctx, tx, 3); err != nil {
		_ = tx.Rollback()
		return err
	}
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s.orders SET amount = amount * 1000 WHERE customer_id = ?", g.db), g.pickCustomer()); err != nil {
		_ = tx.Rollback()
		return fmt.Errorf("updating in rolled-back transaction: %w", err)
	}
	if err := tx.Rollback(); err != nil {
		return fmt.Errorf("rolling back: %w", err)
	}
	g.nextO, g.Stats = saveO, saveStats
	g.Stats.Rollbacks++
	return nil
}

func (g *Generator) pickCustomer() int64 {
	if g.nextC == 0 {
		return g.id(0)
	}
	return g.id(g.rng.Int64N(g.nextC))
}

func (g *Generator) pickOrder() int64 {
	if g.nextO == 0 {
		return g.id(0)
	}
	return g.id(g.rng.Int64N(g.nextO))
}

func (g *Generator) amount() any {
	if g.rng.IntN(20) == 0 {
		return nil
	}
	cents := g.rng.Int64N(100000) - 2000 // some negative and zero amounts
	return fmt.Sprintf("%d.%02d", cents/100, abs(cents%100))
}

func abs(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func (g *Generator) createdAt() string {
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	t := base.Add(time.Duration(g.rng.Int64N(int64(300 * 24 * time.Hour))))
	return t.Format("2006-01-02 15:04:05.000000")
}

func (g *Generator) insertOrders(ctx context.Context, tx *sql.Tx, n int) error {
	var sb strings.Builder
	args := make([]any, 0, n*8)
	fmt.Fprintf(&sb, "INSERT INTO %s.orders (id, customer_id, status, amount, qty, discount, created_at, note) VALUES ", g.db)
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("(?,?,?,?,?,?,?,?)")
		var discount any
		if g.rng.IntN(3) > 0 {
			discount = float64(g.rng.IntN(1000)) / 7
		}
		args = append(args, g.id(g.nextO), g.pickCustomer(), statuses[g.rng.IntN(len(statuses))], g.amount(),
			g.rng.IntN(41)-10, discount, g.createdAt(), notes[g.rng.IntN(len(notes))])
		g.nextO++
	}
	if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("inserting orders: %w", err)
	}
	g.Stats.RowChanges += int64(n)
	return nil
}

func (g *Generator) updateOrder(ctx context.Context, tx *sql.Tx) error {
	var q string
	var args []any
	switch g.rng.IntN(4) {
	case 0: // moves between (day, status) groups
		q, args = "UPDATE %s.orders SET status = ?, created_at = ? WHERE id = ?", []any{statuses[g.rng.IntN(len(statuses))], g.createdAt(), g.pickOrder()}
	case 1:
		q, args = "UPDATE %s.orders SET amount = ?, discount = NULL WHERE id = ?", []any{g.amount(), g.pickOrder()}
	case 2: // moves between customers
		q, args = "UPDATE %s.orders SET customer_id = ?, qty = qty + 1 WHERE id = ?", []any{g.pickCustomer(), g.pickOrder()}
	default: // a multi-row update
		q, args = "UPDATE %s.orders SET note = ?, qty = qty - 1 WHERE customer_id = ?", []any{notes[g.rng.IntN(len(notes))], g.pickCustomer()}
	}
	res, err := tx.ExecContext(ctx, fmt.Sprintf(q, g.db), args...)
	if err != nil {
		return fmt.Errorf("updating orders: %w", err)
	}
	n, _ := res.RowsAffected()
	g.Stats.RowChanges += n
	return nil
}

func (g *Generator) changeOrderPK(ctx context.Context, tx *sql.Tx) error {
	newID := g.id(g.nextO)
	g.nextO++
	res, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s.orders SET id = ? WHERE id = ?", g.db), newID, g.pickOrder())
	if err != nil {
		return fmt.Errorf("changing an order's primary key: %w", err)
	}
	n, _ := res.RowsAffected()
	g.Stats.RowChanges += n
	return nil
}

func (g *Generator) deleteOrders(ctx context.Context, tx *sql.Tx) error {
	lo := g.pickOrder()
	res, err := tx.ExecContext(ctx, fmt.Sprintf("DELETE FROM %s.orders WHERE id >= ? AND id < ?", g.db), lo, lo+int64(1+g.rng.IntN(3)))
	if err != nil {
		return fmt.Errorf("deleting orders: %w", err)
	}
	n, _ := res.RowsAffected()
	g.Stats.RowChanges += n
	return nil
}

func (g *Generator) insertCustomers(ctx context.Context, tx *sql.Tx, n int) error {
	var sb strings.Builder
	args := make([]any, 0, n*4)
	fmt.Fprintf(&sb, "INSERT INTO %s.customers (id, name, country, created_at) VALUES ", g.db)
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		sb.WriteString("(?,?,?,?)")
		args = append(args, g.id(g.nextC), fmt.Sprintf("customer %d ☕", g.nextC), countries[g.rng.IntN(len(countries))], g.createdAt()[:23])
		g.nextC++
	}
	if _, err := tx.ExecContext(ctx, sb.String(), args...); err != nil {
		return fmt.Errorf("inserting customers: %w", err)
	}
	g.Stats.RowChanges += int64(n)
	return nil
}

func (g *Generator) moveCustomer(ctx context.Context, tx *sql.Tx) error {
	res, err := tx.ExecContext(ctx, fmt.Sprintf("UPDATE %s.customers SET country = ? WHERE id = ?", g.db), countries[g.rng.IntN(len(countries))], g.pickCustomer())
	if err != nil {
		return fmt.Errorf("moving a customer: %w", err)
	}
	n, _ := res.RowsAffected()
	g.Stats.RowChanges += n
	return nil
}
