package athena

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/batch"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

// Options configure the generated DDL.
type Options struct {
	// Database is the Glue database the tables go to. "" means "tidemark".
	Database string
	// Root is the lake root, s3://bucket/prefix (Athena reads S3 only).
	Root string
}

func (o *Options) check() error {
	if o.Database == "" {
		o.Database = "tidemark"
	}
	if !strings.HasPrefix(o.Root, "s3://") || len(o.Root) <= len("s3://") {
		return fmt.Errorf("athena DDL: lake root %q: Athena reads S3 only; want s3://bucket/prefix", o.Root)
	}
	o.Root = strings.TrimSuffix(o.Root, "/")
	return nil
}

// GenerationParameter is the table property that records which generation
// a table's LOCATION is in; the Glue sync reads it to never move a table
// back to an older generation.
const GenerationParameter = "tidemark.generation"

// TableName is the Athena name of a source table: <db>_<table>.
func TableName(t formats.TableID) string { return t.DB + "_" + t.Table }

// HistoryTableName is the Athena name of a source table's SCD2 history
// (batch.Table.History): <db>_<table>_history.
func HistoryTableName(t formats.TableID) string { return TableName(t) + "_history" }

// ViewTableName is the Athena name of a view's batch result: view_<name>.
func ViewTableName(view string) string { return "view_" + view }

// CreateDDL returns the statements that create the database and, per table,
// history table and view of gen, an external table at gen's folders.
func CreateDDL(gen *batch.Generation, o Options) ([]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	stmts := []string{fmt.Sprintf("CREATE DATABASE IF NOT EXISTS %s", ident(o.Database))}
	tables, err := describe(gen, o)
	if err != nil {
		return nil, err
	}
	for _, t := range tables {
		var b strings.Builder
		fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s.%s (\n", ident(o.Database), ident(t.name))
		for i, c := range t.columns {
			sep := ","
			if i == len(t.columns)-1 {
				sep = ""
			}
			fmt.Fprintf(&b, "  %s %s%s\n", ident(c.name), c.typ, sep)
		}
		b.WriteString(")\n")
		if len(t.parts) > 0 {
			names := make([]string, len(t.parts))
			for i, p := range t.parts {
				names[i] = ident(p.name) + " string"
			}
			fmt.Fprintf(&b, "PARTITIONED BY (%s)\n", strings.Join(names, ", "))
		}
		fmt.Fprintf(&b, "STORED AS PARQUET\nLOCATION %s\n", quote(t.location+"/"))
		fmt.Fprintf(&b, "TBLPROPERTIES (\n  %s\n)", strings.Join(t.properties(), ",\n  "))
		stmts = append(stmts, b.String())
	}
	return stmts, nil
}

// MoveDDL returns the statements that point tables created by CreateDDL
// (for any generation) at gen: per table, ALTER TABLE SET LOCATION and
// SET TBLPROPERTIES with gen's projection template and ranges.
func MoveDDL(gen *batch.Generation, o Options) ([]string, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	tables, err := describe(gen, o)
	if err != nil {
		return nil, err
	}
	var stmts []string
	for _, t := range tables {
		name := ident(o.Database) + "." + ident(t.name)
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s SET LOCATION %s", name, quote(t.location+"/")))
		stmts = append(stmts, fmt.Sprintf("ALTER TABLE %s SET TBLPROPERTIES (%s)", name, strings.Join(t.properties(), ", ")))
	}
	return stmts, nil
}

type table struct {
	name     string
	location string
	columns  []column
	parts    []part
	gen      uint64
}

type column struct{ name, typ string }

// part is one partition key and its projection.
type part struct {
	name  string
	props [][2]string // projection.<name>.* properties
}

// properties returns the table's TBLPROPERTIES as quoted 'key'='value' pairs.
func (t *table) properties() []string {
	props := t.parameters()
	out := make([]string, len(props))
	for i, p := range props {
		out[i] = quote(p[0]) + "=" + quote(p[1])
	}
	return out
}

// parameters returns the table's properties in a fixed order: the DDL's
// TBLPROPERTIES and the Glue table's Parameters are both made from it.
// GenerationParameter holds the generation the table points at.
func (t *table) parameters() [][2]string {
	props := [][2]string{{"classification", "parquet"}, {GenerationParameter, strconv.FormatUint(t.gen, 10)}}
	if len(t.parts) > 0 {
		props = append(props, [2]string{"projection.enabled", "true"})
		tmpl := t.location
		for _, p := range t.parts {
			props = append(props, p.props...)
			tmpl += "/" + p.name + "=${" + p.name + "}"
		}
		props = append(props, [2]string{"storage.location.template", tmpl + "/"})
	}
	return props
}

func describe(gen *batch.Generation, o Options) ([]*table, error) {
	var out []*table
	names := map[string]string{}
	claim := func(name, what string) error {
		if prev, ok := names[name]; ok {
			return fmt.Errorf("athena DDL: %s and %s both map to table %s", prev, what, name)
		}
		names[name] = what
		return nil
	}
	tableOf := func(ts *batch.TableSnapshot, history bool) error {
		s, err := ts.Schema()
		if err != nil {
			return err
		}
		if s == nil {
			return nil // no schema known yet: nothing to declare
		}
		name, what := TableName(s.Table), "table "+ts.Table
		if history {
			name, what = HistoryTableName(s.Table), "the history of "+ts.Table
		}
		t := &table{name: name, location: o.Root + "/" + ts.Prefix, gen: gen.Generation}
		if err := claim(t.name, what); err != nil {
			return err
		}
		for _, c := range s.Columns {
			t.columns = append(t.columns, column{c.Name, formats.AthenaType(c.Type)})
		}
		spec, err := snapshot.ParsePartitionSpec(ts.Partition, s)
		if err != nil {
			return fmt.Errorf("athena DDL of %s: %w", what, err)
		}
		values := observed(ts.Files, len(spec.Fields))
		for i, f := range spec.Fields {
			p, err := projection(f, values[i], s.Columns[s.ColumnIndex(f.Column)].Nullable)
			if err != nil {
				return fmt.Errorf("athena DDL of %s: %w", what, err)
			}
			t.parts = append(t.parts, p)
		}
		out = append(out, t)
		return nil
	}
	for i := range gen.Tables {
		if err := tableOf(&gen.Tables[i], false); err != nil {
			return nil, err
		}
	}
	for i := range gen.Histories {
		if err := tableOf(&gen.Histories[i], true); err != nil {
			return nil, err
		}
	}
	for _, vs := range gen.Views {
		t := &table{name: ViewTableName(vs.View), location: o.Root + "/" + vs.Prefix, gen: gen.Generation}
		if err := claim(t.name, "view "+vs.View); err != nil {
			return nil, err
		}
		ts := batch.TableSnapshot{Table: "view." + vs.View, Columns: vs.Columns}
		s, err := ts.Schema()
		if err != nil {
			return nil, err
		}
		for _, c := range s.Columns {
			t.columns = append(t.columns, column{c.Name, formats.AthenaType(c.Type)})
		}
		out = append(out, t)
	}
	return out, nil
}

// observed returns, per partition level, the folder values the files use.
func observed(files []snapshot.File, levels int) [][]string {
	sets := make([]map[string]bool, levels)
	for i := range sets {
		sets[i] = map[string]bool{}
	}
	for _, f := range files {
		for i, kv := range strings.Split(f.Partition, "/") {
			if i < levels {
				if _, v, ok := strings.Cut(kv, "="); ok {
					sets[i][v] = true
				}
			}
		}
	}
	out := make([][]string, levels)
	for i, s := range sets {
		for v := range s {
			out[i] = append(out[i], v)
		}
		slices.Sort(out[i])
	}
	return out
}

// projection chooses a partition key's projection: a date range for
// temporal transforms of NOT NULL columns (from the first to the last
// value the generation has), an integer range for truncate of an integer,
// else an enum of the values present.
func projection(f snapshot.PartitionField, values []string, nullable bool) (part, error) {
	p := part{name: f.Name}
	key := func(k string) string { return "projection." + f.Name + "." + k }
	hasNull := slices.Contains(values, snapshot.HiveNull)
	temporal := map[snapshot.Transform][3]string{
		snapshot.Year:  {"yyyy", "2006", "YEARS"},
		snapshot.Month: {"yyyy-MM", "2006-01", "MONTHS"},
		snapshot.Day:   {"yyyy-MM-dd", "2006-01-02", "DAYS"},
		snapshot.Hour:  {"yyyy-MM-dd-HH", "2006-01-02-15", "HOURS"},
	}
	if tf, ok := temporal[f.Transform]; ok && !nullable && !hasNull {
		// An empty generation still needs a valid range: the epoch.
		lo, hi := time.Unix(0, 0).UTC().Format(tf[1]), time.Unix(0, 0).UTC().Format(tf[1])
		if len(values) > 0 {
			lo, hi = values[0], values[len(values)-1]
		}
		p.props = [][2]string{{key("type"), "date"}, {key("format"), tf[0]}, {key("range"), lo + "," + hi},
			{key("interval"), "1"}, {key("interval.unit"), tf[2]}}
		return p, nil
	}
	if f.Transform == snapshot.Truncate && !hasNull && isIntegerValues(values) && len(values) > 0 {
		p.props = [][2]string{{key("type"), "integer"}, {key("range"), values[0] + "," + values[len(values)-1]},
			{key("interval"), strconv.FormatInt(f.Width, 10)}}
		return p, nil
	}
	for _, v := range values {
		if strings.Contains(v, ",") {
			return part{}, fmt.Errorf("partition %s: value %q contains a comma, which an Athena enum projection cannot list", f.Name, v)
		}
	}
	if len(values) == 0 {
		values = []string{snapshot.HiveNull}
	}
	p.props = [][2]string{{key("type"), "enum"}, {key("values"), strings.Join(values, ",")}}
	return p, nil
}

// isIntegerValues reports whether every value is an integer, and if so
// sorts them numerically.
func isIntegerValues(vs []string) bool {
	for _, v := range vs {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return false
		}
	}
	slices.SortFunc(vs, func(a, b string) int {
		x, _ := strconv.ParseInt(a, 10, 64)
		y, _ := strconv.ParseInt(b, 10, 64)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return true
}

func ident(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "\\'") + "'" }
