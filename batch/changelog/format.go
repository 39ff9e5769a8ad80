package changelog

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/tidemark/tidemark/formats"
)

// The lines of a segment's NDJSON, in stream order:
//
//	{"kind":"schema","id":1,"table":"shop.orders","columns":[{"name":"id","type":"bigint","nullable":false},...],"pk":[0]}
//	{"kind":"txn","pos":"bin.000003:0000004711:000000@0-1-42","commit_time":"2024-05-01T12:00:00Z","events":2}
//	{"kind":"event","op":"update","schema":1,"before":[...],"after":[...]}
//
// A schema line precedes the first event that uses it in the segment. A txn
// line is followed by exactly its events. Row values are JSON arrays in
// column order, each value in formats.AppendJSON's exact form, except a
// string that is not valid UTF-8, written as {"base64":"..."}.

type schemaLine struct {
	Kind    string       `json:"kind"`
	ID      int          `json:"id"`
	Table   string       `json:"table"`
	Columns []columnLine `json:"columns"`
	PK      []int        `json:"pk"`
}

type columnLine struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Nullable bool   `json:"nullable"`
}

type txnLine struct {
	Kind       string    `json:"kind"`
	Pos        string    `json:"pos"`
	CommitTime time.Time `json:"commit_time"`
	Events     int       `json:"events"`
}

type eventLine struct {
	Kind   string            `json:"kind"`
	Op     string            `json:"op"`
	Schema int               `json:"schema"`
	Before []json.RawMessage `json:"before"`
	After  []json.RawMessage `json:"after"`
}

// encoder appends a segment's lines.
type encoder struct {
	schemas map[*formats.TableSchema]int
	byValue []*formats.TableSchema // by id-1, for schemas equal but not identical
	buf     []byte
}

func newEncoder() *encoder {
	return &encoder{schemas: map[*formats.TableSchema]int{}}
}

// appendTxn appends t's lines to e.buf.
func (e *encoder) appendTxn(t *formats.Txn) error {
	for i := range t.Events {
		if _, err := e.schemaID(&t.Events[i]); err != nil {
			return err
		}
	}
	line, err := json.Marshal(txnLine{Kind: "txn", Pos: t.Pos.String(), CommitTime: t.CommitTime.UTC(), Events: len(t.Events)})
	if err != nil {
		return err
	}
	e.buf = append(append(e.buf, line...), '\n')
	for i := range t.Events {
		ev := &t.Events[i]
		id := e.schemas[ev.Schema]
		e.buf = append(e.buf, `{"kind":"event","op":"`...)
		e.buf = append(e.buf, ev.Op.String()...)
		e.buf = append(e.buf, `","schema":`...)
		e.buf = fmt.Appendf(e.buf, "%d", id)
		e.buf = append(e.buf, `,"before":`...)
		if e.buf, err = appendRow(e.buf, ev.Schema, ev.Before); err != nil {
			return fmt.Errorf("encoding %s %s before image at %s: %w", ev.Table, ev.Op, ev.Pos, err)
		}
		e.buf = append(e.buf, `,"after":`...)
		if e.buf, err = appendRow(e.buf, ev.Schema, ev.After); err != nil {
			return fmt.Errorf("encoding %s %s after image at %s: %w", ev.Table, ev.Op, ev.Pos, err)
		}
		e.buf = append(e.buf, "}\n"...)
	}
	return nil
}

// schemaID returns the id of ev's schema, appending its schema line first
// if the segment has not seen it.
func (e *encoder) schemaID(ev *formats.Event) (int, error) {
	s := ev.Schema
	if s == nil {
		return 0, fmt.Errorf("encoding %s event at %s: no schema", ev.Table, ev.Pos)
	}
	if id, ok := e.schemas[s]; ok {
		return id, nil
	}
	for i, o := range e.byValue {
		if sameSchema(o, s) {
			e.schemas[s] = i + 1
			return i + 1, nil
		}
	}
	id := len(e.byValue) + 1
	l := schemaLine{Kind: "schema", ID: id, Table: s.Table.String(), PK: s.PK}
	if l.PK == nil {
		l.PK = []int{}
	}
	for _, c := range s.Columns {
		l.Columns = append(l.Columns, columnLine{Name: c.Name, Type: c.Type.String(), Nullable: c.Nullable})
	}
	b, err := json.Marshal(l)
	if err != nil {
		return 0, err
	}
	e.buf = append(append(e.buf, b...), '\n')
	e.schemas[s] = id
	e.byValue = append(e.byValue, s)
	return id, nil
}

func sameSchema(a, b *formats.TableSchema) bool {
	if a.Table != b.Table || len(a.Columns) != len(b.Columns) || len(a.PK) != len(b.PK) {
		return false
	}
	for i := range a.PK {
		if a.PK[i] != b.PK[i] {
			return false
		}
	}
	for i, c := range a.Columns {
		d := b.Columns[i]
		if c.Name != d.Name || c.Nullable != d.Nullable || c.Type.String() != d.Type.String() {
			return false
		}
	}
	return true
}

func appendRow(dst []byte, s *formats.TableSchema, r formats.Row) ([]byte, error) {
	if r == nil {
		return append(dst, "null"...), nil
	}
	if len(r) != len(s.Columns) {
		return dst, fmt.Errorf("row has %d values, schema %d columns", len(r), len(s.Columns))
	}
	dst = append(dst, '[')
	for i, v := range r {
		if i > 0 {
			dst = append(dst, ',')
		}
		if str, ok := v.(string); ok && !utf8.ValidString(str) {
			dst = append(dst, `{"base64":"`...)
			dst = base64.StdEncoding.AppendEncode(dst, []byte(str))
			dst = append(dst, `"}`...)
			continue
		}
		dst = formats.AppendJSON(dst, s.Columns[i].Type, v)
	}
	return append(dst, ']'), nil
}

// decoder reads a segment's lines back into transactions.
type decoder struct {
	schemas map[int]*formats.TableSchema
}

func newDecoder() *decoder { return &decoder{schemas: map[int]*formats.TableSchema{}} }

// lineKind peeks at a line's kind.
func lineKind(line []byte) string {
	var k struct {
		Kind string `json:"kind"`
	}
	if bytes.HasPrefix(line, []byte(`{"kind":"event"`)) {
		return "event"
	}
	json.Unmarshal(line, &k)
	return k.Kind
}

func (d *decoder) schema(line []byte) error {
	var l schemaLine
	if err := json.Unmarshal(line, &l); err != nil {
		return fmt.Errorf("decoding schema line: %w", err)
	}
	tid, err := formats.ParseTableID(l.Table)
	if err != nil {
		return fmt.Errorf("decoding schema line: %w", err)
	}
	s := &formats.TableSchema{Table: tid, PK: l.PK}
	for _, c := range l.Columns {
		t, err := formats.ParseColumnType(c.Type)
		if err != nil {
			return fmt.Errorf("decoding schema of %s: column %s: %w", l.Table, c.Name, err)
		}
		s.Columns = append(s.Columns, formats.Column{Name: c.Name, Type: t, Nullable: c.Nullable})
	}
	d.schemas[l.ID] = s
	return nil
}

func (d *decoder) txn(line []byte) (*formats.Txn, int, error) {
	var l txnLine
	if err := json.Unmarshal(line, &l); err != nil {
		return nil, 0, fmt.Errorf("decoding txn line: %w", err)
	}
	pos, err := formats.ParsePosition(l.Pos)
	if err != nil {
		return nil, 0, fmt.Errorf("decoding txn line: %w", err)
	}
	return &formats.Txn{Pos: pos, CommitTime: l.CommitTime.UTC(), Events: make([]formats.Event, 0, l.Events)}, l.Events, nil
}

var ops = map[string]formats.Op{"insert": formats.OpInsert, "update": formats.OpUpdate, "delete": formats.OpDelete}

func (d *decoder) event(line []byte, t *formats.Txn) error {
	var l eventLine
	if err := json.Unmarshal(line, &l); err != nil {
		return fmt.Errorf("decoding event line of txn %s: %w", t.Pos, err)
	}
	s := d.schemas[l.Schema]
	if s == nil {
		return fmt.Errorf("decoding event line of txn %s: unknown schema id %d", t.Pos, l.Schema)
	}
	op, ok := ops[l.Op]
	if !ok {
		return fmt.Errorf("decoding event line of txn %s: unknown op %q", t.Pos, l.Op)
	}
	pos := t.Pos
	pos.Row = uint32(len(t.Events) + 1)
	ev := formats.Event{Table: s.Table, Op: op, Schema: s, Pos: pos}
	var err error
	if ev.Before, err = decodeRow(s, l.Before); err != nil {
		return fmt.Errorf("decoding %s before image at %s: %w", s.Table, pos, err)
	}
	if ev.After, err = decodeRow(s, l.After); err != nil {
		return fmt.Errorf("decoding %s after image at %s: %w", s.Table, pos, err)
	}
	t.Events = append(t.Events, ev)
	return nil
}

func decodeRow(s *formats.TableSchema, raw []json.RawMessage) (formats.Row, error) {
	if raw == nil {
		return nil, nil
	}
	if len(raw) != len(s.Columns) {
		return nil, fmt.Errorf("%d values for %d columns", len(raw), len(s.Columns))
	}
	r := make(formats.Row, len(raw))
	for i, v := range raw {
		c := s.Columns[i]
		if len(v) > 0 && v[0] == '{' {
			var b struct {
				Base64 []byte `json:"base64"`
			}
			if err := json.Unmarshal(v, &b); err != nil {
				return nil, fmt.Errorf("column %s: %w", c.Name, err)
			}
			r[i] = string(b.Base64)
			continue
		}
		x, err := formats.ParseJSON(c.Type, v)
		if err != nil {
			return nil, fmt.Errorf("column %s: %w", c.Name, err)
		}
		r[i] = x
	}
	return r, nil
}

// segmentName is a segment id in keys: zero-padded so that key order is
// numeric order.
func segmentName(seg uint64) string { return fmt.Sprintf("%020d", seg) }

func parseSegmentName(s string) (uint64, error) {
	var seg uint64
	if len(s) != 20 || strings.Trim(s, "0123456789") != "" {
		return 0, fmt.Errorf("segment name %q: want 20 digits", s)
	}
	_, err := fmt.Sscanf(s, "%d", &seg)
	return seg, err
}
