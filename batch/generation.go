package batch

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

// Generation is a published generation's manifest.
type Generation struct {
	Version    uint64 `json:"version"`
	Generation uint64 `json:"generation"`
	Source     string `json:"source"`
	// Cut is the position the generation is exact at (formats.Position
	// string, GTID included); CutSegment the changelog segment it ends
	// (0: the archive's start), CutTime that commit's time.
	Cut        string    `json:"cut"`
	CutSegment uint64    `json:"cut_segment"`
	CutTime    time.Time `json:"cut_time"`
	// Base says what was rolled forward: "source" (an extract at
	// BasePosition) or "generation N".
	Base         string          `json:"base"`
	BasePosition string          `json:"base_position"`
	Tables       []TableSnapshot `json:"tables"`
	Views        []ViewSnapshot  `json:"views"`
	// Histories are the SCD2 history tables (Table.History): the table's
	// columns, then the history columns (HistValidFrom...), under
	// HistoryPrefix; absent when no table keeps one.
	Histories []TableSnapshot `json:"histories,omitempty"`
	CreatedAt time.Time       `json:"created_at"`
	Seconds   float64         `json:"seconds"`
}

// CutPosition parses Cut.
func (g *Generation) CutPosition() (formats.Position, error) { return formats.ParsePosition(g.Cut) }

// TableSnapshot is one table of a generation.
type TableSnapshot struct {
	Table string `json:"table"` // db.table
	// Columns is the table's schema at the cut; nil when it is unknown (an
	// empty table never seen in the changelog).
	Columns   []ColumnSpec    `json:"columns"`
	PK        []int           `json:"pk"`
	Partition []string        `json:"partition"` // the partition spec, as configured
	Prefix    string          `json:"prefix"`    // tables/<db>/<table>/gen=<g>
	Files     []snapshot.File `json:"files"`
	Rows      int64           `json:"rows"`
	// Base is set when the table was extracted from the source while the
	// generation rolled another one forward (a new table, or DDL the
	// rebuild could not carry it across): "source at <position>".
	Base string `json:"base,omitempty"`
	// Cut and CutSegment are set on a table carried forward by a subset
	// rebuild (Options.Only): the position it is exact at, older than the
	// generation's cut. CarriedFrom is the generation that wrote its files
	// (Prefix is that generation's folder); it means something only with
	// Cut set (generation 0 is a valid value).
	Cut         string `json:"cut,omitempty"`
	CutSegment  uint64 `json:"cut_segment,omitempty"`
	CarriedFrom uint64 `json:"carried_from,omitempty"`
}

// ColumnSpec is a column in a manifest: its type in MySQL's spelling.
type ColumnSpec struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

// Schema returns the table's schema, or nil when unknown.
func (t *TableSnapshot) Schema() (*formats.TableSchema, error) {
	if t.Columns == nil {
		return nil, nil
	}
	id, err := formats.ParseTableID(t.Table)
	if err != nil {
		return nil, err
	}
	s := &formats.TableSchema{Table: id, PK: t.PK}
	for _, c := range t.Columns {
		typ, err := formats.ParseColumnType(c.Type)
		if err != nil {
			return nil, fmt.Errorf("table %s column %s: %w", t.Table, c.Name, err)
		}
		s.Columns = append(s.Columns, formats.Column{Name: c.Name, Type: typ, Nullable: c.Nullable})
	}
	return s, nil
}

func columnSpecs(s *formats.TableSchema) []ColumnSpec {
	if s == nil {
		return nil
	}
	cs := make([]ColumnSpec, len(s.Columns))
	for i, c := range s.Columns {
		cs[i] = ColumnSpec{Name: c.Name, Type: c.Type.String(), Nullable: c.Nullable}
	}
	return cs
}

// ViewSnapshot is one aggregate view's batch result in a generation.
type ViewSnapshot struct {
	View    string          `json:"view"`
	Columns []ColumnSpec    `json:"columns"`
	Prefix  string          `json:"prefix"` // views/<view>/gen=<g>
	Files   []snapshot.File `json:"files"`
	Groups  int64           `json:"groups"`
	// Cut and CarriedFrom are set on a view carried forward by a subset
	// rebuild (its table was not rebuilt): the position it is exact at and
	// the generation that computed it.
	Cut         string `json:"cut,omitempty"`
	CarriedFrom uint64 `json:"carried_from,omitempty"`
}

const generationVersion = 1

const generationsDir = "_generations/"

func generationKey(g uint64) string { return fmt.Sprintf("%s%020d.json", generationsDir, g) }

// TablePrefix is the folder of a table's snapshot in generation g.
func TablePrefix(t formats.TableID, g uint64) string {
	return fmt.Sprintf("tables/%s/%s/gen=%d", t.DB, t.Table, g)
}

// ViewPrefix is the folder of a view's result in generation g.
func ViewPrefix(view string, g uint64) string { return fmt.Sprintf("views/%s/gen=%d", view, g) }

const stagingDir = "_staging/"

func stagingPrefix(g uint64) string { return fmt.Sprintf("%sgen=%d", stagingDir, g) }

// Generations returns the numbers of the published generations, ascending.
func Generations(ctx context.Context, store lake.Store) ([]uint64, error) {
	objs, err := store.List(ctx, generationsDir)
	if err != nil {
		return nil, fmt.Errorf("listing generations: %w", err)
	}
	var gs []uint64
	for _, o := range objs {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, generationsDir), ".json")
		var g uint64
		if len(name) != 20 || strings.Trim(name, "0123456789") != "" {
			continue
		}
		fmt.Sscanf(name, "%d", &g)
		gs = append(gs, g)
	}
	return gs, nil
}

// ReadGeneration reads generation g's manifest.
func ReadGeneration(ctx context.Context, store lake.Store, g uint64) (*Generation, error) {
	b, err := lake.ReadAll(ctx, store, generationKey(g))
	if err != nil {
		return nil, fmt.Errorf("reading generation %d: %w", g, err)
	}
	var gen Generation
	if err := json.Unmarshal(b, &gen); err != nil {
		return nil, fmt.Errorf("decoding generation %d: %w", g, err)
	}
	if gen.Version != generationVersion || gen.Generation != g {
		return nil, fmt.Errorf("generation manifest %s: version %d generation %d, want version %d generation %d",
			generationKey(g), gen.Version, gen.Generation, generationVersion, g)
	}
	return &gen, nil
}

// Latest returns the newest published generation, or nil when there is none.
func Latest(ctx context.Context, store lake.Store) (*Generation, error) {
	gs, err := Generations(ctx, store)
	if err != nil || len(gs) == 0 {
		return nil, err
	}
	return ReadGeneration(ctx, store, gs[len(gs)-1])
}
