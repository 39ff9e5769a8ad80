package capture

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"slices"
	"strings"

	"github.com/go-mysql-org/go-mysql/replication"

	"github.com/tidemark/tidemark/formats"
)

// ErrPolicy is matched by errors that say a table's schema and the
// column policy do not fit together (an excluded primary key column).
var ErrPolicy = errors.New("column policy does not fit the table")

// ColumnRef names one column of a source table.
type ColumnRef struct {
	Table  formats.TableID
	Column string
}

func (r ColumnRef) String() string { return r.Table.String() + "." + r.Column }

// ParseColumnRef parses "db.table.column".
func ParseColumnRef(s string) (ColumnRef, error) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return ColumnRef{}, fmt.Errorf("column %q: want db.table.column", s)
	}
	return ColumnRef{Table: formats.TableID{DB: parts[0], Table: parts[1]}, Column: parts[2]}, nil
}

// ColumnPolicy keeps sensitive columns inside the source. It is applied by
// the Capture where rows are decoded, on the binlog path (Stream), the
// snapshot path (Snapshot) and to the schemas it reports (Schemas), so every
// consumer (Redis, the changelog archive, the lake, warehouses) only ever
// sees policy-applied rows and schemas.
//
//   - An Exclude column is removed: it is absent from the schema and from
//     every row, not NULL. A snapshot does not even select it.
//   - A Mask column is replaced by MaskedValue of its value: the lowercase
//     hex HMAC-SHA256 of the value's canonical text under MaskKey, of type
//     MaskedType (VARCHAR(64)). Equal values give equal hashes in every
//     table and column, so joins on a masked key still work; NULL stays
//     NULL.
//
// Column names match case-insensitively, as MySQL's do. A column named by
// the policy that a table does not have (yet, or any more) is ignored at
// decode time; CheckColumns reports such columns at start-up.
type ColumnPolicy struct {
	Exclude []ColumnRef
	Mask    []ColumnRef
	// MaskKey is the HMAC key; required when Mask is not empty. Changing it
	// changes every masked value.
	MaskKey []byte
}

// MaskedType is the type a masked column has in every schema Capture
// reports: a 64-character hex string, through the one type map like any
// VARCHAR(64) (PostgreSQL varchar(64), Parquet string, ...).
func MaskedType() formats.Type { return formats.Type{Kind: formats.KindVarChar, Precision: 64} }

// MaskedValue returns the masked form of v, a canonical value of type t
// (not NULL): hex(HMAC-SHA256(key, text)), where text is v's bytes for
// strings and binary values and formats.FormatText(t, v) otherwise, so the
// binlog and snapshot paths, which give identical canonical values, give
// identical hashes.
func MaskedValue(key []byte, t formats.Type, v any) string {
	return newMasker(key).mask(t, v)
}

// masker computes masked values with one HMAC state, reset per value. It is
// not safe for concurrent use: each stream's table cache and each snapshot
// table has its own.
type masker struct {
	mac hash.Hash
	sum [sha256.Size]byte
	hex [2 * sha256.Size]byte
}

func newMasker(key []byte) *masker { return &masker{mac: hmac.New(sha256.New, key)} }

func (m *masker) mask(t formats.Type, v any) string {
	m.mac.Reset()
	switch x := v.(type) {
	case string:
		io.WriteString(m.mac, x)
	case []byte:
		m.mac.Write(x)
	default:
		io.WriteString(m.mac, formats.FormatText(t, v))
	}
	hex.Encode(m.hex[:], m.mac.Sum(m.sum[:0]))
	return string(m.hex[:])
}

// policy is a ColumnPolicy compiled for lookups. A nil *policy applies
// nothing.
type policy struct {
	key    []byte
	tables map[formats.TableID]*tableRule
}

type tableRule struct {
	exclude map[string]bool // lower-cased column names
	mask    map[string]bool
}

// compilePolicy checks p and compiles it; an empty policy compiles to nil,
// so the capture's paths cost nothing without one.
func compilePolicy(p ColumnPolicy) (*policy, error) {
	if len(p.Exclude) == 0 && len(p.Mask) == 0 {
		return nil, nil
	}
	if len(p.Mask) > 0 && len(p.MaskKey) == 0 {
		return nil, errors.New("capture config: columns.mask needs a mask key")
	}
	out := &policy{key: p.MaskKey, tables: map[formats.TableID]*tableRule{}}
	rule := func(t formats.TableID) *tableRule {
		r := out.tables[t]
		if r == nil {
			r = &tableRule{exclude: map[string]bool{}, mask: map[string]bool{}}
			out.tables[t] = r
		}
		return r
	}
	for _, c := range p.Exclude {
		rule(c.Table).exclude[strings.ToLower(c.Column)] = true
	}
	for _, c := range p.Mask {
		r := rule(c.Table)
		if r.exclude[strings.ToLower(c.Column)] {
			return nil, fmt.Errorf("capture config: column %s is both excluded and masked", c)
		}
		r.mask[strings.ToLower(c.Column)] = true
	}
	return out, nil
}

// projection is the policy applied to one source schema: the schema the
// rest of Tidemark sees (out) and how a source row becomes a row of it.
type projection struct {
	masker *masker
	src    *formats.TableSchema
	out    *formats.TableSchema
	// keep[j] is the source ordinal of out column j; mask[j] says whether
	// it is masked.
	keep []int
	mask []bool
}

// plan returns the projection of schema s, or nil when the policy leaves s
// as it is. An excluded primary key column is an error: the table's rows
// could no longer be told apart.
func (p *policy) plan(s *formats.TableSchema) (*projection, error) {
	if p == nil {
		return nil, nil
	}
	r := p.tables[s.Table]
	if r == nil {
		return nil, nil
	}
	pr := &projection{src: s}
	out := &formats.TableSchema{Table: s.Table}
	newIdx := make([]int, len(s.Columns))
	changed := false
	for i, c := range s.Columns {
		name := strings.ToLower(c.Name)
		if r.exclude[name] {
			newIdx[i] = -1
			changed = true
			continue
		}
		newIdx[i] = len(out.Columns)
		m := r.mask[name]
		if m {
			c = formats.Column{Name: c.Name, Type: MaskedType(), Nullable: c.Nullable}
			changed = true
		}
		out.Columns = append(out.Columns, c)
		pr.keep = append(pr.keep, i)
		pr.mask = append(pr.mask, m)
	}
	if !changed {
		return nil, nil
	}
	if slices.Contains(pr.mask, true) {
		pr.masker = newMasker(p.key)
	}
	for _, k := range s.PK {
		if newIdx[k] < 0 {
			return nil, fmt.Errorf("%w: column %s.%s is excluded by the column policy but is part of the primary key of %s: mask it instead",
				ErrPolicy, s.Table, s.Columns[k].Name, s.Table)
		}
		out.PK = append(out.PK, newIdx[k])
	}
	pr.out = out
	return pr, nil
}

// row turns a decoded source row (in s's column order) into a row of the
// projected schema, in place: r must not be shared.
func (pr *projection) row(r formats.Row) formats.Row {
	if r == nil {
		return nil
	}
	for j, i := range pr.keep {
		v := r[i]
		if pr.mask[j] && v != nil {
			v = pr.masker.mask(pr.src.Columns[i].Type, v)
		}
		r[j] = v
	}
	clear(r[len(pr.keep):])
	return r[:len(pr.keep):len(pr.keep)]
}

// events applies the projection to events decoded with its source schema.
func (pr *projection) events(evs []formats.Event) {
	for i := range evs {
		e := &evs[i]
		e.Before = pr.row(e.Before)
		e.After = pr.row(e.After)
		e.Schema = pr.out
	}
}

// snapshotPlan is plan for a snapshot query: out is the schema rows are
// emitted with, sel the source columns to select (only those the policy
// keeps, in out's order) and fix, when not nil, masks a row read with sel
// into a row of out, in place.
func (p *policy) snapshotPlan(s *formats.TableSchema) (out, sel *formats.TableSchema, fix func(formats.Row), err error) {
	pr, err := p.plan(s)
	if err != nil || pr == nil {
		return s, s, nil, err
	}
	sel = &formats.TableSchema{Table: s.Table, Columns: make([]formats.Column, len(pr.keep))}
	for j, i := range pr.keep {
		sel.Columns[j] = s.Columns[i]
	}
	if pr.masker != nil {
		fix = func(r formats.Row) {
			for j, v := range r {
				if pr.mask[j] && v != nil {
					r[j] = pr.masker.mask(sel.Columns[j].Type, v)
				}
			}
		}
	}
	return pr.out, sel, fix, nil
}

// rowChanges is the number of row changes rows event e holds (an update
// has two images per change).
func rowChanges(e *replication.RowsEvent) int {
	if e.Type() == replication.EnumRowsEventTypeUpdate {
		return len(e.Rows) / 2
	}
	return len(e.Rows)
}

// applySchemas replaces each schema of m by its projection.
func (p *policy) applySchemas(m map[formats.TableID]*formats.TableSchema) error {
	if p == nil {
		return nil
	}
	for id, s := range m {
		pr, err := p.plan(s)
		if err != nil {
			return err
		}
		if pr != nil {
			m[id] = pr.out
		}
	}
	return nil
}

// ColumnProblem is a column of the policy that does not fit the source's
// current schema. Index is the entry's position in ColumnPolicy.Exclude
// (Excluded set) or ColumnPolicy.Mask.
type ColumnProblem struct {
	Excluded bool
	Index    int
	Ref      ColumnRef
	Problem  string
}

// CheckColumns reads the current schemas of the tables the policy names and
// reports every entry that does not fit them: a table that is not captured
// or does not exist, a column that does not exist, an excluded primary key
// column. The Capture's own policy is checked; nil means it fits.
func (c *Capture) CheckColumns(ctx context.Context) ([]ColumnProblem, error) {
	var problems []ColumnProblem
	var tables []formats.TableID
	seen := map[formats.TableID]bool{}
	all := func(f func(excl bool, i int, r ColumnRef)) {
		for i, r := range c.cfg.Columns.Exclude {
			f(true, i, r)
		}
		for i, r := range c.cfg.Columns.Mask {
			f(false, i, r)
		}
	}
	all(func(excl bool, i int, r ColumnRef) {
		if !c.captured.has(r.Table.DB, r.Table.Table) {
			problems = append(problems, ColumnProblem{excl, i, r, fmt.Sprintf("table %s is not captured by this source", r.Table)})
			return
		}
		if !seen[r.Table] {
			seen[r.Table] = true
			tables = append(tables, r.Table)
		}
	})
	if len(tables) == 0 {
		return problems, nil
	}
	existing, err := c.existingTables(ctx, c.db, tables)
	if err != nil {
		return nil, err
	}
	var present []formats.TableID
	for _, t := range tables {
		if existing[t] {
			present = append(present, t)
		}
	}
	schemas, err := c.rawSchemas(ctx, c.db, present)
	if err != nil {
		return nil, err
	}
	all(func(excl bool, i int, r ColumnRef) {
		if !seen[r.Table] {
			return
		}
		s := schemas[r.Table]
		if s == nil {
			problems = append(problems, ColumnProblem{excl, i, r, fmt.Sprintf("table %s does not exist on the source %s", r.Table, c.addr())})
			return
		}
		k := s.ColumnIndex(r.Column)
		if k < 0 {
			problems = append(problems, ColumnProblem{excl, i, r, fmt.Sprintf("table %s has no column %q", r.Table, r.Column)})
			return
		}
		if excl && slices.Contains(s.PK, k) {
			problems = append(problems, ColumnProblem{excl, i, r, fmt.Sprintf("column %s is part of the primary key of %s and cannot be excluded: mask it instead", r, r.Table)})
		}
	})
	return problems, nil
}

// MaskedColumns returns the source's types (as the source declares them
// now) of the columns of table the policy masks, by lower-case column
// name; nil when it masks none of them. `tidemark verify` reads those
// columns as a snapshot would (formats.BoundView.VerifySQLOver) and masks
// them with MaskText.
func (c *Capture) MaskedColumns(ctx context.Context, table formats.TableID) (map[string]formats.Type, error) {
	p := c.captured.policy
	if p == nil || p.tables[table] == nil || len(p.tables[table].mask) == 0 {
		return nil, nil
	}
	r := p.tables[table]
	schemas, err := c.rawSchemas(ctx, c.db, []formats.TableID{table})
	if err != nil {
		return nil, fmt.Errorf("reading the schema of %s: %w", table, err)
	}
	s := schemas[table]
	if s == nil {
		return nil, nil
	}
	out := map[string]formats.Type{}
	for _, col := range s.Columns {
		if name := strings.ToLower(col.Name); r.mask[name] {
			out[name] = col.Type
		}
	}
	return out, nil
}

// MaskText returns the masked form of raw, the source's text of a value of
// a masked column whose source type is t, selected as formats.SelectExpr
// selects a column of type t (FLOAT and DOUBLE through CAST(col AS DOUBLE),
// TIMESTAMP through UNIX_TIMESTAMP): raw is decoded as the snapshot path
// decodes it (formats.FromText) and masked as the capture masks it, so the
// result is exactly the value the capture delivers for it. raw is not
// NULL.
func (c *Capture) MaskText(t formats.Type, raw []byte) ([]byte, error) {
	p := c.captured.policy
	if p == nil || len(p.key) == 0 {
		return nil, errors.New("masking a source value: the capture has no mask key")
	}
	v, err := formats.FromText(t, raw)
	if err != nil {
		return nil, fmt.Errorf("masking a source value: %w", err)
	}
	return []byte(MaskedValue(p.key, t, v)), nil
}
