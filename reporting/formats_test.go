package reporting

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/tidemark/tidemark/formats"
)

// The Arrow answer is read back with Arrow's own IPC reader and must hold
// the JSON answer's values, typed by formats.ArrowType.
func TestArrowStream(t *testing.T) {
	f := newFixture(t, Config{})
	js := f.get(t, "/v1/views/revenue?join=customers:customer_id").rows(t)
	r := f.get(t, "/v1/views/revenue?join=customers:customer_id", "Accept", arrowStreamType)
	if r.code != 200 || r.hdr.Get("Content-Type") != arrowStreamType {
		t.Fatalf("%d %v %s", r.code, r.hdr, r.body)
	}
	rd, err := ipc.NewReader(bytes.NewReader(r.body), ipc.WithAllocator(memory.NewGoAllocator()))
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	schema := rd.Schema()
	wantCols := []string{"day", "status", "customer_id", "orders", "revenue", "avg_amount", "weight", "avg_weight", "customers.id", "customers.name", "customers.country"}
	if len(schema.Fields()) != len(wantCols) {
		t.Fatalf("schema %v", schema)
	}
	for i, fl := range schema.Fields() {
		if fl.Name != wantCols[i] {
			t.Errorf("field %d %s, want %s", i, fl.Name, wantCols[i])
		}
	}
	if fr, ok := schema.Metadata().GetValue("tidemark.freshness"); !ok || !strings.Contains(fr, `"generation":3`) {
		t.Errorf("freshness metadata %q", fr)
	}
	// Types are the type map's.
	cols := f.srv.catalog.views["revenue"].cols
	for i, c := range cols {
		if want := formats.ArrowType(c.Type); !arrow.TypeEqual(schema.Field(i).Type, want) {
			t.Errorf("%s: arrow %s, want %s", c.Name, schema.Field(i).Type, want)
		}
	}
	n := 0
	for rd.Next() {
		rec := rd.Record()
		for row := 0; row < int(rec.NumRows()); row++ {
			for ci, name := range wantCols {
				got := arrowJSON(rec.Column(ci), row)
				if want := js[n][name]; got != want {
					t.Errorf("row %d %s: arrow %s, json %s", n, name, got, want)
				}
			}
			n++
		}
	}
	if err := rd.Err(); err != nil {
		t.Fatal(err)
	}
	if n != len(js) {
		t.Errorf("%d arrow rows, %d json rows", n, len(js))
	}
}

// arrowJSON renders one Arrow cell as the JSON answer writes it.
func arrowJSON(col arrow.Array, i int) string {
	if col.IsNull(i) {
		return "null"
	}
	switch a := col.(type) {
	case *array.Int64:
		return fmt.Sprint(a.Value(i))
	case *array.Uint64:
		return fmt.Sprint(a.Value(i))
	case *array.Float64:
		b, _ := json.Marshal(a.Value(i))
		return string(b)
	case *array.String:
		b, _ := json.Marshal(a.Value(i))
		return string(b)
	case *array.Decimal128:
		b, _ := json.Marshal(a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale))
		return string(b)
	}
	return fmt.Sprintf("<%T>", col)
}

// The gviz answer must be a valid Google Visualization DataTable: checked
// against testdata/gviz-datatable.schema.json by a small JSON Schema
// validator, then for content.
func TestGVizDataTable(t *testing.T) {
	f := newFixture(t, Config{})
	schemaText, err := os.ReadFile("testdata/gviz-datatable.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := json.Unmarshal(schemaText, &schema); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"format=gviz", "format=gviz&join=customers:customer_id", "format=gviz&group_by=day", "format=gviz&limit=0"} {
		r := f.get(t, "/v1/views/revenue?"+q)
		if r.code != 200 {
			t.Fatalf("%s: %d %s", q, r.code, r.body)
		}
		var doc any
		d := json.NewDecoder(bytes.NewReader(r.body))
		d.UseNumber()
		if err := d.Decode(&doc); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if errs := validate(schema, doc, "$"); len(errs) > 0 {
			t.Errorf("%s: not a DataTable:\n%s", q, strings.Join(errs, "\n"))
		}
		if errs := gvizCellTypes(doc.(map[string]any)); len(errs) > 0 {
			t.Errorf("%s: cells do not match their columns:\n%s", q, strings.Join(errs, "\n"))
		}
	}
	var dt struct {
		Cols []struct{ ID, Label, Type string }
		Rows []struct {
			C []struct {
				V any
				F string
			}
		}
	}
	r := f.get(t, "/v1/views/revenue?format=gviz&group_by=status")
	if err := json.Unmarshal(r.body, &dt); err != nil {
		t.Fatal(err)
	}
	types := []string{}
	for _, c := range dt.Cols {
		types = append(types, c.ID+":"+c.Type)
	}
	if want := "status:string orders:number revenue:number avg_amount:number weight:number avg_weight:number"; strings.Join(types, " ") != want {
		t.Errorf("cols %v", types)
	}
	paid := dt.Rows[0].C
	if paid[0].V != "paid" || paid[2].V != 67.02 || paid[2].F != "67.02" || paid[3].F != "13.404000" {
		t.Errorf("paid row %+v", paid)
	}
	// Invalid output must fail the validator (the validator itself works).
	bad := map[string]any{"cols": []any{map[string]any{"id": "x", "type": "money"}}, "rows": []any{map[string]any{"c": "no"}}}
	if errs := validate(schema, bad, "$"); len(errs) < 2 {
		t.Errorf("validator accepted a bad table: %v", errs)
	}
}

// gvizCellTypes checks what a schema cannot say: each cell's value has
// its column's type, and every row has one cell per column.
func gvizCellTypes(doc map[string]any) []string {
	var errs []string
	cols := doc["cols"].([]any)
	dateRE := regexp.MustCompile(`^Date\(\d+,\d+,\d+(,\d+,\d+,\d+(,\d+)?)?\)$`)
	for i, row := range doc["rows"].([]any) {
		cells := row.(map[string]any)["c"].([]any)
		if len(cells) != len(cols) {
			errs = append(errs, fmt.Sprintf("row %d: %d cells for %d cols", i, len(cells), len(cols)))
			continue
		}
		for j, cell := range cells {
			if cell == nil {
				continue
			}
			v := cell.(map[string]any)["v"]
			if v == nil {
				continue
			}
			ok := false
			switch typ := cols[j].(map[string]any)["type"]; typ {
			case "number":
				_, ok = v.(json.Number)
			case "string":
				_, ok = v.(string)
			case "boolean":
				_, ok = v.(bool)
			case "date", "datetime":
				s, isStr := v.(string)
				ok = isStr && dateRE.MatchString(s)
			case "timeofday":
				a, isArr := v.([]any)
				ok = isArr && (len(a) == 3 || len(a) == 4)
			}
			if !ok {
				errs = append(errs, fmt.Sprintf("row %d col %d: %v is not a %v", i, j, v, cols[j].(map[string]any)["type"]))
			}
		}
	}
	return errs
}

// validate checks v against a JSON Schema subset: type, properties,
// required, additionalProperties, items, enum, pattern, anyOf, $ref to
// #/definitions. It returns one message per violation.
func validate(root map[string]any, v any, path string) []string {
	return validateAt(root, root, v, path)
}

func validateAt(root, s map[string]any, v any, path string) []string {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, "#/definitions/")
		return validateAt(root, root["definitions"].(map[string]any)[name].(map[string]any), v, path)
	}
	var errs []string
	if anyOf, ok := s["anyOf"].([]any); ok {
		matched := false
		for _, alt := range anyOf {
			if len(validateAt(root, alt.(map[string]any), v, path)) == 0 {
				matched = true
				break
			}
		}
		if !matched {
			errs = append(errs, fmt.Sprintf("%s: %v matches no alternative", path, v))
		}
	}
	if typ, ok := s["type"]; ok {
		var types []string
		switch x := typ.(type) {
		case string:
			types = []string{x}
		case []any:
			for _, y := range x {
				types = append(types, y.(string))
			}
		}
		if !hasType(types, v) {
			return append(errs, fmt.Sprintf("%s: %v is not %v", path, v, types))
		}
	}
	if enum, ok := s["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if fmt.Sprint(e) == fmt.Sprint(v) {
				found = true
			}
		}
		if !found {
			errs = append(errs, fmt.Sprintf("%s: %v not in %v", path, v, enum))
		}
	}
	if pat, ok := s["pattern"].(string); ok {
		if str, ok := v.(string); ok && !regexp.MustCompile(pat).MatchString(str) {
			errs = append(errs, fmt.Sprintf("%s: %q does not match %s", path, str, pat))
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, req := range asSlice(s["required"]) {
			if _, ok := obj[req.(string)]; !ok {
				errs = append(errs, fmt.Sprintf("%s: missing %q", path, req))
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if ps, ok := props[k].(map[string]any); ok {
				errs = append(errs, validateAt(root, ps, obj[k], path+"."+k)...)
			} else if ap, ok := s["additionalProperties"].(bool); ok && !ap {
				errs = append(errs, fmt.Sprintf("%s: unexpected property %q", path, k))
			}
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, x := range arr {
				errs = append(errs, validateAt(root, items, x, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return errs
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func hasType(types []string, v any) bool {
	for _, t := range types {
		switch t {
		case "object":
			if _, ok := v.(map[string]any); ok {
				return true
			}
		case "array":
			if _, ok := v.([]any); ok {
				return true
			}
		case "string":
			if _, ok := v.(string); ok {
				return true
			}
		case "number":
			switch v.(type) {
			case json.Number, float64:
				return true
			}
		case "boolean":
			if _, ok := v.(bool); ok {
				return true
			}
		case "null":
			if v == nil {
				return true
			}
		}
	}
	return false
}

// Every kind of the type map survives each encoder: Arrow reads back the
// same values, gviz stays a valid DataTable, CSV has the text forms.
func TestEncodersAllTypes(t *testing.T) {
	specs := []struct {
		typ string
		v   any
	}{
		{"tinyint", int64(-5)}, {"int unsigned", uint64(4000000000)}, {"bigint", int64(-9007199254740993)},
		{"decimal(10,2)", formats.Decimal("-12.50")}, {"decimal(65,4)", formats.Decimal("12345678901234567890123456789012345678901234.5678")},
		{"float", 1.5}, {"double", 2.25}, {"date", day("2024-02-29 00:00:00")},
		{"datetime(6)", time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.UTC)},
		{"timestamp", time.Date(2024, 2, 29, 13, 14, 15, 0, time.UTC)},
		{"time(3)", -(838*time.Hour + 59*time.Minute + 59*time.Second + 500*time.Millisecond)},
		{"time", 13*time.Hour + 5*time.Minute},
		{"year", int64(2024)}, {"varchar(10)", "x\"y\x00z"}, {"enum('a','b')", "b"}, {"set('a','b')", "a,b"},
		{"json", `{"a":1}`}, {"varbinary(4)", []byte{0, 1, 2, 255}}, {"bit(8)", uint64(255)},
	}
	ans := &answer{kind: "view", name: "all", generated: time.Now()}
	row := formats.Row{}
	nulls := formats.Row{}
	for i, s := range specs {
		ans.cols = append(ans.cols, outColumn{Name: fmt.Sprintf("c%d", i), Type: mustType(t, s.typ)})
		row = append(row, s.v)
		nulls = append(nulls, nil)
	}
	ans.rows = []formats.Row{row, nulls}

	var buf bytes.Buffer
	if err := ans.writeArrow(&buf); err != nil {
		t.Fatal(err)
	}
	rd, err := ipc.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Release()
	if !rd.Next() {
		t.Fatal("no record")
	}
	rec := rd.Record()
	for i, s := range specs {
		col := rec.Column(i)
		if !col.IsNull(1) {
			t.Errorf("%s: NULL row not null", s.typ)
		}
		if col.IsNull(0) {
			t.Errorf("%s: value row null", s.typ)
			continue
		}
		if got, want := arrowText(col, 0, ans.cols[i].Type), formats.FormatText(ans.cols[i].Type, s.v); got != want {
			t.Errorf("%s: arrow %s, want %s", s.typ, got, want)
		}
	}

	schemaText, _ := os.ReadFile("testdata/gviz-datatable.schema.json")
	var schema map[string]any
	json.Unmarshal(schemaText, &schema)
	var doc any
	d := json.NewDecoder(bytes.NewReader(ans.appendTail(ans.appendGViz(nil), formatGViz, time.Now())))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		t.Fatalf("gviz is not JSON: %v", err)
	}
	if errs := append(validate(schema, doc, "$"), gvizCellTypes(doc.(map[string]any))...); len(errs) > 0 {
		t.Errorf("gviz: %s", strings.Join(errs, "\n"))
	}
	js := ans.appendTail(ans.appendJSON(nil), formatJSON, time.Now())
	if !json.Valid(js) {
		t.Errorf("json answer invalid: %s", js)
	}
	buf.Reset()
	if err := ans.writeCSV(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "-838:59:59.500") || !strings.Contains(buf.String(), "2024-02-29 13:14:15.123456") {
		t.Errorf("csv %s", buf.String())
	}
}

// arrowText renders an Arrow cell as formats.FormatText would.
func arrowText(col arrow.Array, i int, t formats.Type) string {
	switch a := col.(type) {
	case *array.Int64:
		return fmt.Sprint(a.Value(i))
	case *array.Uint64:
		return fmt.Sprint(a.Value(i))
	case *array.Float64:
		return fmt.Sprint(a.Value(i))
	case *array.String:
		return a.Value(i)
	case *array.Binary:
		return base64.StdEncoding.EncodeToString(a.Value(i))
	case *array.Decimal128:
		return a.Value(i).ToString(a.DataType().(*arrow.Decimal128Type).Scale)
	case *array.Date32:
		return a.Value(i).ToTime().Format("2006-01-02")
	case *array.Timestamp:
		tm := a.Value(i).ToTime(a.DataType().(*arrow.TimestampType).Unit)
		s := tm.Format("2006-01-02 15:04:05.000000")
		if tm.Nanosecond() == 0 {
			s = tm.Format("2006-01-02 15:04:05")
		}
		return s
	case *array.Duration:
		d := time.Duration(a.Value(i)) * time.Microsecond
		return formats.FormatText(t, d)
	}
	return fmt.Sprintf("<%T>", col)
}
