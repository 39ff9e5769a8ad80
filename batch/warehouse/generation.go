package warehouse

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// Kind is what a warehouse table holds.
type Kind string

const (
	// KindTable is a table's snapshot at the cut.
	KindTable Kind = "table"
	// KindHistory is a table's SCD2 history (batch.HistorySchema).
	KindHistory Kind = "history"
	// KindView is an aggregate view's batch result.
	KindView Kind = "view"
)

// Column is one column of a warehouse table, typed by the one type map:
// formats.PostgresType and formats.RedshiftType give its SQL type.
type Column struct {
	Name     string
	Type     formats.Type
	Nullable bool
}

// File is one Parquet file of a table in the lake.
type File struct {
	Key   string // the object key, relative to the lake root
	Rows  int64
	Bytes int64
}

// Table is one table, history or view of a generation.
type Table struct {
	// Source is what the lake calls it: db.table for KindTable and
	// KindHistory, the view's name for KindView.
	Source string
	Kind   Kind
	// Name is the stable name readers query (StableName).
	Name    string
	Columns []Column
	// PK holds indexes into Columns of the primary key; nil for none. A
	// history's key is the table's key and its valid-from position.
	PK []int
	// Files are exactly the generation's Parquet files of the table, each
	// written with snapshot.SchemaOf(Columns).
	Files []File
	Rows  int64
	Bytes int64
}

// FormatsColumns returns the columns as formats columns (for
// snapshot.SchemaOf and formats.ArrowValue).
func (t *Table) FormatsColumns() []formats.Column {
	cs := make([]formats.Column, len(t.Columns))
	for i, c := range t.Columns {
		cs[i] = formats.Column{Name: c.Name, Type: c.Type, Nullable: c.Nullable}
	}
	return cs
}

// Generation is what a load needs of a published lake generation.
type Generation struct {
	Number uint64
	// Cut is the cut position (formats.Position string), GTID its GTID
	// set ("" when the source has none), CutTime the cut commit's time.
	Cut     string
	GTID    string
	CutTime time.Time
	// Tables are the generation's tables, then histories, then views, each
	// in manifest order. Names are unique.
	Tables []Table
}

// Rows is the total row count of g's tables.
func (g *Generation) Rows() int64 {
	var n int64
	for _, t := range g.Tables {
		n += t.Rows
	}
	return n
}

// Bytes is the total Parquet size of g's tables.
func (g *Generation) Bytes() int64 {
	var n int64
	for _, t := range g.Tables {
		n += t.Bytes
	}
	return n
}

// Selection picks what a target loads. A nil list means all of that kind;
// an empty, non-nil one none.
type Selection struct {
	Tables  []string // db.table
	Views   []string // view names
	History []string // db.table of tables with a history
}

// Select returns g restricted to sel. Names sel lists that g lacks are
// ignored (a table with no rows yet, a view added later).
func (g *Generation) Select(sel Selection) *Generation {
	out := *g
	out.Tables = nil
	for _, t := range g.Tables {
		var list []string
		switch t.Kind {
		case KindTable:
			list = sel.Tables
		case KindHistory:
			list = sel.History
		case KindView:
			list = sel.Views
		}
		if list == nil || containsFold(list, t.Source) {
			out.Tables = append(out.Tables, t)
		}
	}
	return &out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// StableName is the name readers query for a table of kind k whose lake
// name is source: db_table, db_table_history, or the view's name.
func StableName(k Kind, source string) string {
	switch k {
	case KindView:
		return strings.ToLower(source)
	case KindHistory:
		return strings.ToLower(strings.ReplaceAll(source, ".", "_")) + "_history"
	}
	return strings.ToLower(strings.ReplaceAll(source, ".", "_"))
}

// MaxIdentifier is the longest identifier GenTable returns: PostgreSQL's
// limit (NAMEDATALEN-1), below Redshift's 127.
const MaxIdentifier = 63

// GenTable is the per-generation table of stable name name in generation
// g: t_<name>_g<g>, with the name shortened and a hash of it added when
// that would pass MaxIdentifier bytes.
func GenTable(name string, g uint64) string {
	suffix := fmt.Sprintf("_g%d", g)
	s := "t_" + name + suffix
	if len(s) <= MaxIdentifier {
		return s
	}
	h := sha256.Sum256([]byte(name))
	tag := "_" + hex.EncodeToString(h[:4])
	keep := MaxIdentifier - len("t_") - len(tag) - len(suffix)
	return "t_" + name[:keep] + tag + suffix
}

// GenTablePattern is a LIKE pattern matching every per-generation table
// name (for cleanup listings).
const GenTablePattern = "t\\_%\\_g%"

// ParseGenTable returns the generation of a per-generation table name.
func ParseGenTable(table string) (uint64, bool) {
	i := strings.LastIndex(table, "_g")
	if !strings.HasPrefix(table, "t_") || i < 0 {
		return 0, false
	}
	var g uint64
	num := table[i+2:]
	if num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, false
	}
	if _, err := fmt.Sscanf(num, "%d", &g); err != nil {
		return 0, false
	}
	return g, true
}

// FromManifest reads generation gen's manifest from the lake.
func FromManifest(ctx context.Context, store lake.Store, gen uint64) (*Generation, error) {
	m, err := batch.ReadGeneration(ctx, store, gen)
	if err != nil {
		return nil, err
	}
	return FromBatch(m)
}

// Latest reads the newest published generation; nil when there is none.
func Latest(ctx context.Context, store lake.Store) (*Generation, error) {
	gs, err := batch.Generations(ctx, store)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	return FromManifest(ctx, store, gs[len(gs)-1])
}

// FromBatch converts a generation manifest. Tables whose schema is unknown
// (empty and never seen) are left out: there is nothing to type them by.
func FromBatch(m *batch.Generation) (*Generation, error) {
	g := &Generation{Number: m.Generation, Cut: m.Cut, CutTime: m.CutTime}
	if pos, err := m.CutPosition(); err == nil {
		g.GTID = pos.GTID
	} else if m.Cut != "" {
		return nil, fmt.Errorf("generation %d: cut %q: %w", m.Generation, m.Cut, err)
	}
	add := func(k Kind, ts *batch.TableSnapshot) error {
		s, err := ts.Schema()
		if err != nil {
			return fmt.Errorf("generation %d %s %s: %w", m.Generation, k, ts.Table, err)
		}
		if s == nil {
			return nil
		}
		t := Table{Source: ts.Table, Kind: k, Name: StableName(k, ts.Table), PK: ts.PK, Rows: ts.Rows}
		for _, c := range s.Columns {
			t.Columns = append(t.Columns, Column{Name: c.Name, Type: c.Type, Nullable: c.Nullable})
		}
		if k == KindHistory && len(t.PK) > 0 {
			t.PK = append(append([]int(nil), ts.PK...), historyValidFrom(t.Columns))
		}
		for _, f := range ts.Files {
			t.Files = append(t.Files, File{Key: f.Key, Rows: f.Rows, Bytes: f.Bytes})
			t.Bytes += f.Bytes
		}
		g.Tables = append(g.Tables, t)
		return nil
	}
	for i := range m.Tables {
		if err := add(KindTable, &m.Tables[i]); err != nil {
			return nil, err
		}
	}
	for i := range m.Histories {
		if err := add(KindHistory, &m.Histories[i]); err != nil {
			return nil, err
		}
	}
	for _, v := range m.Views {
		t := Table{Source: v.View, Kind: KindView, Name: StableName(KindView, v.View), Rows: v.Groups}
		for _, c := range v.Columns {
			typ, err := formats.ParseColumnType(c.Type)
			if err != nil {
				return nil, fmt.Errorf("generation %d view %s column %s: %w", m.Generation, v.View, c.Name, err)
			}
			t.Columns = append(t.Columns, Column{Name: c.Name, Type: typ, Nullable: c.Nullable})
		}
		for _, f := range v.Files {
			t.Files = append(t.Files, File{Key: f.Key, Rows: f.Rows, Bytes: f.Bytes})
			t.Bytes += f.Bytes
		}
		g.Tables = append(g.Tables, t)
	}
	seen := map[string]string{}
	for _, t := range g.Tables {
		if prev, ok := seen[t.Name]; ok {
			return nil, fmt.Errorf("generation %d: %s %s and %s both load as %q: rename the view", m.Generation, t.Kind, t.Source, prev, t.Name)
		}
		seen[t.Name] = string(t.Kind) + " " + t.Source
	}
	return g, nil
}

func historyValidFrom(cols []Column) int {
	for i, c := range cols {
		if c.Name == batch.HistValidFrom {
			return i
		}
	}
	return len(cols) - 1
}
