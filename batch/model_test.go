package batch

import (
	"context"
	"fmt"
	"iter"
	"maps"
	"math/big"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// The test model: a small shop whose history is a deterministic stream of
// transactions, with the table states after each of them, so that any cut
// can be checked.

var (
	ordersID = formats.TableID{DB: "shop", Table: "orders"}
	eventsID = formats.TableID{DB: "shop", Table: "events"} // no primary key
)

func mustType(s string) formats.Type {
	t, err := formats.ParseColumnType(s)
	if err != nil {
		panic(err)
	}
	return t
}

var ordersSchema = &formats.TableSchema{Table: ordersID, PK: []int{0}, Columns: []formats.Column{
	{Name: "id", Type: mustType("bigint")},
	{Name: "customer_id", Type: mustType("bigint")},
	{Name: "status", Type: mustType("varchar(16)")},
	{Name: "amount", Type: mustType("decimal(10,2)"), Nullable: true},
	{Name: "created_at", Type: mustType("datetime(6)")},
}}

var eventsSchema = &formats.TableSchema{Table: eventsID, Columns: []formats.Column{
	{Name: "kind", Type: mustType("varchar(10)")},
	{Name: "n", Type: mustType("int"), Nullable: true},
}}

func testViews() []*formats.View {
	var vs []*formats.View
	for _, spec := range []formats.ViewSpec{
		{Name: "revenue_by_day", From: "shop.orders", Where: "status <> 'cancelled'",
			GroupBy: []string{"day(created_at) AS day", "status"}, Measures: []string{"count() AS orders", "sum(amount) AS revenue", "avg(amount) AS avg_amount"}},
		{Name: "event_kinds", From: "shop.events", GroupBy: []string{"kind"}, Measures: []string{"count()", "sum(n)"}},
		{Name: "orders_mirror", From: "shop.orders", Mirror: true},
	} {
		v, err := formats.ParseView(spec)
		if err != nil {
			panic(err)
		}
		vs = append(vs, v)
	}
	return vs
}

type state struct {
	orders map[int64]formats.Row
	events []formats.Row
}

func (s state) clone() state {
	return state{orders: maps.Clone(s.orders), events: slices.Clone(s.events)}
}

// model is the history: txns[i] and states[i] (the state after txns[i]).
type model struct {
	mu     sync.Mutex
	txns   []*formats.Txn
	states []state
	cur    state
	rng    *rand.Rand
	nextID int64
	// snapAt, when >= 0, makes Snapshot return the state after txn snapAt
	// instead of the current one; rowDelay slows it down.
	snapAt   int
	rowDelay time.Duration
}

var modelBase = time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC)

func newModel(seed uint64) *model {
	return &model{cur: state{orders: map[int64]formats.Row{}}, rng: rand.New(rand.NewPCG(seed, 1)), nextID: 1, snapAt: -1}
}

func (m *model) orderRow(id int64) formats.Row {
	var amount any = formats.DecimalFromScaled(big.NewInt(m.rng.Int64N(200000)-10000), 2)
	if m.rng.IntN(10) == 0 {
		amount = nil
	}
	return formats.Row{id, m.rng.Int64N(50), []string{"new", "paid", "shipped", "cancelled"}[m.rng.IntN(4)], amount,
		modelBase.Add(time.Duration(m.rng.Int64N(5*24*3600e6)) * time.Microsecond)}
}

// step appends one random transaction of 1-4 changes.
func (m *model) step() {
	m.mu.Lock()
	defer m.mu.Unlock()
	i := len(m.txns)
	t := &formats.Txn{
		Pos:        formats.Position{File: "bin.000001", Offset: uint32(4 + 100*(i+1)), GTID: fmt.Sprintf("0-1-%d", i+1)},
		CommitTime: modelBase.Add(time.Duration(i) * 700 * time.Millisecond).Truncate(time.Second),
	}
	for n := 1 + m.rng.IntN(4); n > 0; n-- {
		var ev formats.Event
		ids := slices.Sorted(maps.Keys(m.cur.orders))
		switch r := m.rng.IntN(10); {
		case r < 4 || len(ids) < 3:
			id := m.nextID
			m.nextID++
			row := m.orderRow(id)
			m.cur.orders[id] = row
			ev = formats.Event{Table: ordersID, Schema: ordersSchema, Op: formats.OpInsert, After: row}
		case r < 6:
			id := ids[m.rng.IntN(len(ids))]
			before := m.cur.orders[id]
			after := m.orderRow(id)
			if m.rng.IntN(4) == 0 { // the primary key changes
				after[0] = m.nextID
				m.nextID++
				delete(m.cur.orders, id)
			}
			m.cur.orders[after[0].(int64)] = after
			ev = formats.Event{Table: ordersID, Schema: ordersSchema, Op: formats.OpUpdate, Before: before, After: after}
		case r < 7:
			id := ids[m.rng.IntN(len(ids))]
			ev = formats.Event{Table: ordersID, Schema: ordersSchema, Op: formats.OpDelete, Before: m.cur.orders[id]}
			delete(m.cur.orders, id)
		case r < 9 || len(m.cur.events) == 0:
			var nv any = int64(m.rng.IntN(3))
			if m.rng.IntN(5) == 0 {
				nv = nil
			}
			row := formats.Row{[]string{"click", "view"}[m.rng.IntN(2)], nv}
			m.cur.events = append(m.cur.events, row)
			ev = formats.Event{Table: eventsID, Schema: eventsSchema, Op: formats.OpInsert, After: row}
		default: // delete one copy of a duplicate-prone row
			j := m.rng.IntN(len(m.cur.events))
			ev = formats.Event{Table: eventsID, Schema: eventsSchema, Op: formats.OpDelete, Before: m.cur.events[j]}
			m.cur.events = slices.Delete(m.cur.events, j, j+1)
		}
		ev.Pos = t.Pos
		ev.Pos.Row = uint32(len(t.Events) + 1)
		t.Events = append(t.Events, ev)
	}
	m.txns = append(m.txns, t)
	m.states = append(m.states, m.cur.clone())
}

// stateAt is the state after the transaction at pos.
func (m *model) stateAt(pos formats.Position) state {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i, t := range m.txns {
		if t.Pos == pos {
			return m.states[i]
		}
	}
	panic("no txn at " + pos.String())
}

// stream yields txns [from, to).
func (m *model) stream(from, to int) <-chan *formats.Txn {
	ch := make(chan *formats.Txn)
	go func() {
		defer close(ch)
		for i := from; i < to; i++ {
			m.mu.Lock()
			t := m.txns[i]
			m.mu.Unlock()
			ch <- t
		}
	}()
	return ch
}

// Snapshot is the model as a Source: the current state at the last
// transaction's position. slow delays each row.
func (m *model) Snapshot(ctx context.Context, tables []formats.TableID,
	emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error) {
	m.mu.Lock()
	i := len(m.txns) - 1
	if m.snapAt >= 0 {
		i = m.snapAt
	}
	st, pos := m.states[i].clone(), m.txns[i].Pos
	m.mu.Unlock()
	for _, t := range tables {
		switch t {
		case ordersID:
			for _, id := range slices.Sorted(maps.Keys(st.orders)) {
				if m.rowDelay > 0 {
					time.Sleep(m.rowDelay)
				}
				if err := emit(ctx, ordersSchema, st.orders[id]); err != nil {
					return formats.Position{}, err
				}
			}
		case eventsID:
			for _, r := range st.events {
				if err := emit(ctx, eventsSchema, r); err != nil {
					return formats.Position{}, err
				}
			}
		}
	}
	return pos, nil
}

// Schemas makes the model a SchemaSource.
func (m *model) Schemas(ctx context.Context, tables []formats.TableID) (map[formats.TableID]*formats.TableSchema, error) {
	out := map[formats.TableID]*formats.TableSchema{}
	for _, t := range tables {
		switch t {
		case ordersID:
			out[t] = ordersSchema
		case eventsID:
			out[t] = eventsSchema
		}
	}
	return out, nil
}

// recordingPublisher keeps what a Publisher is given, and when it was
// given relative to the generation manifest.
type recordingPublisher struct {
	mu        sync.Mutex
	calls     []string
	aggs      map[string]map[formats.GroupKey]string
	mirrors   map[string]int
	onPublish func()
}

func (p *recordingPublisher) LoadBatch(ctx context.Context, view *formats.View, gen uint64, groups iter.Seq2[formats.GroupKey, *formats.Agg]) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.aggs == nil {
		p.aggs = map[string]map[formats.GroupKey]string{}
	}
	m := map[formats.GroupKey]string{}
	for k, a := range groups {
		m[k] = a.String()
	}
	p.aggs[view.Name] = m
	p.calls = append(p.calls, fmt.Sprintf("load %s %d", view.Name, gen))
	return nil
}

func (p *recordingPublisher) PublishAgg(ctx context.Context, view *formats.View, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, fmt.Sprintf("publish %s %d %s %d", view.Name, gen, cut, cutSeg))
	if p.onPublish != nil {
		p.onPublish()
	}
	return nil
}

func (p *recordingPublisher) PublishMirrorRows(ctx context.Context, view *formats.BoundView, gen uint64, cut formats.Position, cutTime time.Time, rows iter.Seq2[formats.Row, error]) error {
	n := 0
	for _, err := range rows {
		if err != nil {
			return err
		}
		n++
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mirrors == nil {
		p.mirrors = map[string]int{}
	}
	p.mirrors[view.View().Name] = n
	p.calls = append(p.calls, fmt.Sprintf("mirror %s %d %s", view.View().Name, gen, cut))
	return nil
}
