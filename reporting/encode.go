package reporting

import (
	"bytes"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/tidemark/tidemark/formats"
)

// format is an answer's wire format.
type format string

const (
	formatJSON  format = "json"
	formatCSV   format = "csv"
	formatArrow format = "arrow"
	formatGViz  format = "gviz"
)

const arrowStreamType = "application/vnd.apache.arrow.stream"

// negotiate picks the format: format= wins, then the Accept header's first
// supported type, then JSON.
func negotiate(r *http.Request, param []string) (format, *apiError) {
	if len(param) > 1 {
		return "", badParam("format", "given %d times, want once", len(param))
	}
	if len(param) == 1 {
		switch f := format(strings.ToLower(param[0])); f {
		case formatJSON, formatCSV, formatArrow, formatGViz:
			return f, nil
		}
		return "", badParam("format", "%q is not a format; want json, csv, arrow or gviz", param[0])
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/json", "*/*", "application/*":
			return formatJSON, nil
		case "text/csv":
			return formatCSV, nil
		case arrowStreamType:
			return formatArrow, nil
		}
	}
	return formatJSON, nil
}

func (f format) contentType() string {
	switch f {
	case formatCSV:
		return "text/csv; charset=utf-8"
	case formatArrow:
		return arrowStreamType
	}
	return "application/json"
}

// answer is a computed result ready to encode.
type answer struct {
	kind      string // "view" or "table": the JSON object's name field
	name      string
	cols      []outColumn
	rows      []formats.Row
	fresh     Freshness
	mirrors   map[string]Freshness // joined mirrors' freshness, if any
	generated time.Time            // for lag_ms
	next      string               // a mirror listing's next page (URL path and query), if any
}

// outColumn is one column of an answer.
type outColumn struct {
	Name string
	Type formats.Type
	Key  bool
}

func (a *answer) encode(w io.Writer, f format) error {
	if f == formatArrow {
		return a.writeArrow(w)
	}
	body, err := a.body(f)
	if err != nil {
		return err
	}
	_, err = w.Write(a.appendTail(body, f, a.generated))
	return err
}

// body renders everything of a text answer but its freshness tail, which
// holds lag_ms and so is rendered per request (appendTail): a body can be
// cached for as long as the state it reflects is current.
func (a *answer) body(f format) ([]byte, error) {
	switch f {
	case formatCSV:
		var buf bytes.Buffer
		err := a.writeCSV(&buf)
		return buf.Bytes(), err
	case formatGViz:
		return a.appendGViz(nil), nil
	case formatJSON:
		return a.appendJSON(make([]byte, 0, 256+len(a.rows)*len(a.cols)*24)), nil
	}
	return nil, fmt.Errorf("format %s has no text body", f)
}

// appendTail completes a body: the freshness object(s) and the closing
// brackets (nothing for CSV, whose freshness travels in headers only).
func (a *answer) appendTail(b []byte, f format, now time.Time) []byte {
	t := a.tail(f)
	return t.append(b, now)
}

// freshTail is a text answer's freshness tail rendered but for its lag_ms
// values, which change with every request while the rest stays as long as
// the answer: parts[0], the lag of lags[0], parts[1], ...,
// parts[len(lags)]. A cached answer keeps one, so serving it formats no
// position or time again.
type freshTail struct {
	parts [][]byte
	lags  []Freshness
	size  int // of the parts
}

// tail renders a's freshness tail for f (see appendTail).
func (a *answer) tail(f format) freshTail {
	var t freshTail
	var b []byte
	// fresh renders one freshness object, its lag left to append.
	fresh := func(fr Freshness) {
		t.parts = append(t.parts, appendFreshnessHead(b, fr))
		t.lags = append(t.lags, fr)
		b = []byte{'}'}
	}
	switch f {
	case formatJSON:
		fresh(a.fresh)
		if len(a.mirrors) > 0 {
			b = b[:len(b)-1]
			b = append(b, `,"mirrors":{`...)
			for i, name := range sortedKeys(a.mirrors) {
				if i > 0 {
					b = append(b, ',')
				}
				b = appendJSONString(b, name)
				b = append(b, ':')
				fresh(a.mirrors[name])
			}
			b = append(b, "}}"...)
		}
		b = append(b, "}\n"...)
	case formatGViz:
		fresh(a.fresh)
		b = append(b, "}}\n"...)
	}
	t.parts = append(t.parts, b)
	for _, p := range t.parts {
		t.size += len(p)
	}
	return t
}

// append appends the tail with lag_ms as of now.
func (t *freshTail) append(b []byte, now time.Time) []byte {
	for i, p := range t.parts {
		b = append(b, p...)
		if i < len(t.lags) {
			b = appendLag(b, t.lags[i], now)
		}
	}
	return b
}

// appendJSON renders the contract's object up to its freshness (see
// appendTail):
// {"view","columns":[{"name","type","key"}],"rows":[{col:value}],"freshness":{...}}.
func (a *answer) appendJSON(b []byte) []byte {
	b = append(b, '{', '"')
	b = append(b, a.kind...)
	b = append(b, `":`...)
	b = appendJSONString(b, a.name)
	b = append(b, `,"columns":`...)
	b = appendColumnsJSON(b, a.cols)
	b = append(b, `,"rows":[`...)
	names := make([][]byte, len(a.cols))
	for i, c := range a.cols {
		names[i] = append(appendJSONString(nil, c.Name), ':')
	}
	for i, row := range a.rows {
		yieldAt(i)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '\n', '{')
		for j, c := range a.cols {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, names[j]...)
			b = formats.AppendJSON(b, c.Type, row[j])
		}
		b = append(b, '}')
	}
	if a.next != "" {
		b = append(b, `],"next":`...)
		b = appendJSONString(b, a.next)
		return append(b, `,"freshness":`...)
	}
	return append(b, `],"freshness":`...)
}

func appendFreshness(b []byte, f Freshness, now time.Time) []byte {
	b = appendLag(appendFreshnessHead(b, f), f, now)
	return append(b, '}')
}

// appendFreshnessHead renders a freshness object up to its lag_ms value.
func appendFreshnessHead(b []byte, f Freshness) []byte {
	b = append(b, `{"generation":`...)
	b = strconv.AppendUint(b, f.Generation, 10)
	b = append(b, `,"cut":`...)
	b = appendPosition(b, f.Cut)
	b = append(b, `,"cut_time":`...)
	b = appendTime(b, f.CutTime)
	b = append(b, `,"speed_position":`...)
	b = appendPosition(b, f.SpeedPosition)
	return append(b, `,"lag_ms":`...)
}

// appendLag renders f's lag as of now in milliseconds and the clock it was
// measured on (`<ms>,"lag_source":"receive"`), both null when unknown.
func appendLag(b []byte, f Freshness, now time.Time) []byte {
	lag, clock, ok := f.lag(now)
	if !ok {
		return append(b, `null,"lag_source":null`...)
	}
	b = strconv.AppendInt(b, lag.Milliseconds(), 10)
	b = append(b, `,"lag_source":"`...)
	b = append(b, clock.String()...)
	return append(b, '"')
}

// lag is how far behind the source the answer is: now minus the commit time
// of the last applied transaction (the cut's, if the speed layer applied
// nothing after it), and the clock that time was read from. Unknown when
// that time is.
func (f Freshness) lag(now time.Time) (time.Duration, formats.Clock, bool) {
	t, c := f.SpeedTime, f.SpeedClock
	if t.IsZero() && (f.SpeedPosition.IsZero() || f.SpeedPosition.Compare(f.Cut) <= 0) {
		t, c = f.CutTime, formats.ClockCommitSeconds
	}
	if t.IsZero() {
		return 0, formats.ClockUnknown, false
	}
	if c == formats.ClockUnknown {
		c = formats.ClockCommitSeconds
	}
	return max(now.Sub(t), 0), c, true
}

func appendPosition(b []byte, p formats.Position) []byte {
	if p.IsZero() && p.GTID == "" {
		return append(b, "null"...)
	}
	return appendJSONString(b, p.String())
}

func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// setFreshnessHeaders repeats the freshness as headers, so CSV and Arrow
// answers carry it too.
func setFreshnessHeaders(h http.Header, f Freshness, now time.Time) {
	setHeaders(h, freshnessHeaders(f))
	if lag, _, ok := f.lag(now); ok {
		h.Set("X-Tidemark-Lag-Ms", strconv.FormatInt(lag.Milliseconds(), 10))
	}
}

// header is one response header rendered ahead of the requests that send
// it: its canonical key and its values, shared by every response and never
// modified (net/http copies a handler's headers before writing them).
type header struct {
	key  string
	vals []string
}

func newHeader(key, val string) header {
	return header{key: http.CanonicalHeaderKey(key), vals: []string{val}}
}

func setHeaders(h http.Header, hs []header) {
	for _, x := range hs {
		h[x.key] = x.vals
	}
}

// freshnessHeaders are the freshness headers but the lag (see
// setFreshnessHeaders).
func freshnessHeaders(f Freshness) []header {
	hs := []header{
		newHeader("X-Tidemark-Generation", strconv.FormatUint(f.Generation, 10)),
		newHeader("X-Tidemark-Cut", f.Cut.String()),
	}
	if !f.SpeedPosition.IsZero() {
		hs = append(hs, newHeader("X-Tidemark-Speed-Position", f.SpeedPosition.String()))
	}
	if _, clock, ok := f.lag(time.Time{}); ok { // the clock does not change with now
		hs = append(hs, newHeader("X-Tidemark-Lag-Source", clock.String()))
	}
	return hs
}

// writeCSV writes a header line of column names, then one line per row;
// values in their text form (formats.FormatText), NULL as an empty field.
func (a *answer) writeCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	rec := make([]string, len(a.cols))
	for i, c := range a.cols {
		rec[i] = c.Name
	}
	if err := cw.Write(rec); err != nil {
		return err
	}
	for _, row := range a.rows {
		for i, c := range a.cols {
			if row[i] == nil {
				rec[i] = ""
			} else {
				rec[i] = formats.FormatText(c.Type, row[i])
			}
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// arrowSchema maps the answer's columns with formats.ArrowType; the
// freshness travels as schema metadata ("tidemark.freshness", the JSON
// object) so a reader of the stream alone knows what it reflects.
func (a *answer) arrowSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(a.cols))
	for i, c := range a.cols {
		fields[i] = arrow.Field{Name: c.Name, Type: formats.ArrowType(c.Type), Nullable: true}
	}
	md := arrow.NewMetadata([]string{"tidemark." + a.kind, "tidemark.freshness"},
		[]string{a.name, string(appendFreshness(nil, a.fresh, a.generated))})
	return arrow.NewSchema(fields, &md)
}

// arrowBatchRows is the record batch size of an Arrow answer.
const arrowBatchRows = 4096

func (a *answer) writeArrow(w io.Writer) error {
	mem := memory.NewGoAllocator()
	schema := a.arrowSchema()
	iw := ipc.NewWriter(w, ipc.WithSchema(schema), ipc.WithAllocator(mem))
	rb := array.NewRecordBuilder(mem, schema)
	defer rb.Release()
	flush := func() error {
		rec := rb.NewRecord()
		defer rec.Release()
		if err := iw.Write(rec); err != nil {
			return fmt.Errorf("writing arrow record batch: %w", err)
		}
		return nil
	}
	n := 0
	for _, row := range a.rows {
		for i := range a.cols {
			if err := formats.AppendArrow(rb.Field(i), a.cols[i].Type, row[i]); err != nil {
				return fmt.Errorf("column %s: %w", a.cols[i].Name, err)
			}
		}
		if n++; n == arrowBatchRows {
			if err := flush(); err != nil {
				return err
			}
			n = 0
		}
	}
	if n > 0 || len(a.rows) == 0 {
		if err := flush(); err != nil {
			return err
		}
	}
	return iw.Close()
}

// gvizType is a column's Google Visualization DataTable type, by the type
// map's Go type of its values: numbers (integers, DECIMAL, floats), dates,
// datetimes (time.Time of the other temporal kinds), times of day
// (time.Duration), else strings.
func gvizType(t formats.Type) string {
	switch formats.GoType(t) {
	case goInt64, goUint64, goDecimal, goFloat64:
		return "number"
	case goTime:
		if t.Kind == formats.KindDate {
			return "date"
		}
		return "datetime"
	case goDuration:
		return "timeofday"
	}
	return "string"
}

var (
	goInt64    = reflect.TypeFor[int64]()
	goUint64   = reflect.TypeFor[uint64]()
	goDecimal  = reflect.TypeFor[formats.Decimal]()
	goFloat64  = reflect.TypeFor[float64]()
	goTime     = reflect.TypeFor[time.Time]()
	goDuration = reflect.TypeFor[time.Duration]()
)

// appendGViz renders (up to its freshness, see appendTail) a Google Visualization DataTable (the JSON a
// google.visualization.DataTable constructor takes):
// {"cols":[{"id","label","type"}],"rows":[{"c":[{"v":...}]}],"p":{freshness}}.
// DECIMAL cells carry the exact text in "f" beside the numeric "v"; dates
// use the DataTable's "Date(y,m,d[,h,mi,s,ms])" form with a 0-based month.
func (a *answer) appendGViz(b []byte) []byte {
	b = append(b, `{"cols":[`...)
	types := make([]string, len(a.cols))
	for i, c := range a.cols {
		if i > 0 {
			b = append(b, ',')
		}
		types[i] = gvizType(c.Type)
		b = append(b, `{"id":`...)
		b = appendJSONString(b, c.Name)
		b = append(b, `,"label":`...)
		b = appendJSONString(b, c.Name)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, types[i])
		b = append(b, '}')
	}
	b = append(b, `],"rows":[`...)
	for i, row := range a.rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"c":[`...)
		for j, c := range a.cols {
			if j > 0 {
				b = append(b, ',')
			}
			b = appendGVizCell(b, c.Type, types[j], row[j])
		}
		b = append(b, "]}"...)
	}
	return append(b, `],"p":{"freshness":`...)
}

func appendGVizCell(b []byte, t formats.Type, gt string, v any) []byte {
	if v == nil {
		return append(b, `{"v":null}`...)
	}
	b = append(b, `{"v":`...)
	switch gt {
	case "number":
		switch x := v.(type) {
		case int64:
			b = strconv.AppendInt(b, x, 10)
		case uint64:
			b = strconv.AppendUint(b, x, 10)
		case float64:
			if math.IsNaN(x) || math.IsInf(x, 0) {
				b = append(b, "null"...)
			} else {
				b = strconv.AppendFloat(b, x, 'g', -1, 64)
			}
		case formats.Decimal:
			// A JSON number may carry any digits; readers round to double.
			// The exact text rides along in "f".
			b = append(b, x...)
			b = append(b, `,"f":`...)
			b = appendJSONString(b, string(x))
		default:
			b = appendJSONString(b, formats.FormatText(t, v))
		}
	case "date", "datetime":
		tm, ok := v.(time.Time)
		if !ok {
			b = appendJSONString(b, formats.FormatText(t, v))
			break
		}
		tm = tm.UTC()
		var s string
		if gt == "date" {
			s = fmt.Sprintf("Date(%d,%d,%d)", tm.Year(), int(tm.Month())-1, tm.Day())
		} else {
			s = fmt.Sprintf("Date(%d,%d,%d,%d,%d,%d,%d)", tm.Year(), int(tm.Month())-1, tm.Day(),
				tm.Hour(), tm.Minute(), tm.Second(), tm.Nanosecond()/1e6)
		}
		b = appendJSONString(b, s)
	case "timeofday":
		d, ok := v.(time.Duration)
		if !ok || d < 0 || d >= 24*time.Hour {
			// timeofday cannot hold a negative or >= 24h TIME; fall back
			// to its text so nothing is silently wrapped.
			b = append(b, "null"...)
			b = append(b, `,"f":`...)
			b = appendJSONString(b, formats.FormatText(t, v))
			break
		}
		b = fmt.Appendf(b, "[%d,%d,%d,%d]", int(d/time.Hour), int(d/time.Minute%60), int(d/time.Second%60), int(d/time.Millisecond%1000))
	default:
		switch x := v.(type) {
		case []byte:
			b = appendJSONString(b, base64.StdEncoding.EncodeToString(x))
		case string:
			b = appendJSONString(b, x)
		default:
			b = appendJSONString(b, formats.FormatText(t, v))
		}
	}
	return append(b, '}')
}

// appendJSONString quotes s as a JSON string, as formats writes every
// string value (strconv.AppendQuote would write Go escapes such as \x00).
func appendJSONString(b []byte, s string) []byte {
	return formats.AppendJSON(b, formats.Type{Kind: formats.KindText}, s)
}

// appendColumnsJSON appends the JSON array of columns [{"name","type"[,"key"]}]
// that both a view's answer and the /v1/views catalog carry.
func appendColumnsJSON(b []byte, cols []outColumn) []byte {
	b = append(b, '[')
	for i, c := range cols {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = appendJSONString(b, c.Name)
		b = append(b, `,"type":`...)
		b = appendJSONString(b, c.Type.String())
		if c.Key {
			b = append(b, `,"key":true`...)
		}
		b = append(b, '}')
	}
	return append(b, ']')
}
