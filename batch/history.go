package batch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

// A history table (SCD2) keeps every version of a table's rows: the
// table's columns followed by the columns below. A version is valid from
// the commit that made it (HistValidFrom, inclusive) to the commit that
// replaced or deleted it (HistValidTo, exclusive; NULL while it is
// current).
// Positions are formats.Position strings without the GTID (the order
// key only), so that plain string comparison with a generation's cut, with
// or without its "@gtid", gives the versions valid at that cut:
//
//	valid_from <= cut AND (valid_to IS NULL OR valid_to > cut)
//
// Changes within one transaction collapse into the version visible at its
// commit: an intermediate image nobody could read is not a version; the
// start op is that of the transaction's first change making the key's
// row, the end op that of its last change removing it. A delete closes
// the key's version (end op "delete") and records no tombstone. A primary
// key change closes the old key's version (end op "update") and opens one
// under the new key (start op "update"). docs/lake.md has the reader's
// view.
const (
	HistValidFrom     = "valid_from"      // varchar, NOT NULL
	HistValidTo       = "valid_to"        // varchar, NULL: current
	HistValidFromTime = "valid_from_time" // timestamp (UTC) of ValidFrom's commit; NULL for a snapshot version
	HistValidToTime   = "valid_to_time"   // timestamp (UTC) of ValidTo's commit
	HistStartOp       = "start_op"        // "insert", "update", or opSnapshot
	HistEndOp         = "end_op"          // "update", "delete", or NULL while current
)

// opSnapshot starts the versions a history begins with: the rows of its
// first base, whose earlier changes are unknown.
const opSnapshot = "snapshot"

// historyColumns are the columns a history table adds to its table's.
var historyColumns = []formats.Column{
	{Name: HistValidFrom, Type: formats.Type{Kind: formats.KindVarChar, Precision: 255}},
	{Name: HistValidTo, Type: formats.Type{Kind: formats.KindVarChar, Precision: 255}, Nullable: true},
	{Name: HistValidFromTime, Type: formats.Type{Kind: formats.KindTimestamp, FSP: 6}, Nullable: true},
	{Name: HistValidToTime, Type: formats.Type{Kind: formats.KindTimestamp, FSP: 6}, Nullable: true},
	{Name: HistStartOp, Type: formats.Type{Kind: formats.KindVarChar, Precision: 8}},
	{Name: HistEndOp, Type: formats.Type{Kind: formats.KindVarChar, Precision: 8}, Nullable: true},
}

// HistoryPrefix is the folder of a table's history in generation g. It is
// outside tables/ so that no table's name can collide with it.
func HistoryPrefix(t formats.TableID, g uint64) string {
	return fmt.Sprintf("history/%s/%s/gen=%d", t.DB, t.Table, g)
}

// HistorySchema returns the schema of table s's history table, or why s
// cannot have one (no primary key, or a column named like a history
// column).
func HistorySchema(s *formats.TableSchema) (*formats.TableSchema, error) {
	if len(s.PK) == 0 {
		return nil, fmt.Errorf("table %s has no primary key: a history tells row versions apart by key; drop it from batch.history or give it a primary key", s.Table)
	}
	for _, c := range s.Columns {
		for _, h := range historyColumns {
			if strings.EqualFold(c.Name, h.Name) {
				return nil, fmt.Errorf("table %s has a column named %s, which its history table needs for itself", s.Table, c.Name)
			}
		}
	}
	return &formats.TableSchema{Table: s.Table, PK: s.PK, Columns: append(slices.Clip(s.Columns), historyColumns...)}, nil
}

// histories rolls the history tables of a rebuild forward: replay feeds it
// every archived transaction (txn), the rebuild then writes each history
// (finish). A nil *histories has no tables and does nothing. Memory holds
// the changed keys only: per key its current version (one row) and how
// the base's version of it ended; versions closed by the replayed changes
// are written as soon as their transaction ends, and the base's versions
// are streamed.
type histories struct {
	tables map[formats.TableID]*tableHistory
	order  []formats.TableID
	// restart holds the histories that met a change of their table's
	// columns they cannot be carried across, and why: the rebuild starts
	// them anew from the table's rows.
	restart map[formats.TableID]string
}

// restarts returns the histories to start anew (see restart).
func (hs *histories) restarts() map[formats.TableID]string {
	if hs == nil {
		return nil
	}
	return hs.restart
}

// tableHistory is one table's history in the making.
type tableHistory struct {
	t     Table
	g     uint64
	o     Options
	store lake.Store
	log   *slog.Logger
	// since is the position the base is exact at: the previous history's
	// cut, or the position of the rows it starts from. Changes at or
	// before it are in the base already.
	since formats.Position
	// prevFiles are the previous generation's history files; baseFiles the
	// table rows a new history starts from (one "snapshot" version each).
	fromPrev  bool
	prevFiles []string
	baseFiles []string

	schema *formats.TableSchema // the table's; nil until known
	hist   *formats.TableSchema
	sch    *snapshot.Schema
	// baseEvo turns the table columns of the base's versions (the previous
	// history's or the base rows) into schema's, after DDL (ddl.go);
	// startSchema and startHist are the schemas the base was written with.
	baseEvo     *evolution
	startSchema *formats.TableSchema
	startHist   *formats.TableSchema
	// The versions the replayed changes close are staged (w, unpartitioned,
	// under _staging/) and copied into the history at finish: a DDL during
	// the replay closes the current stage (into spills) and opens another
	// with the new columns.
	w       *snapshot.Writer
	batch   *rowBatcher
	spills  []historySpill
	stageNo int
	dead    bool // restarting (histories.restart): its changes are ignored
	rows    int64

	keys    map[string]*keyHistory
	pending []string // keys with a version closed in the current transaction
	// baseEnds counts the keys whose base version ended and was not yet
	// met while streaming the base.
	baseEnds int
	kb       []byte
	odd      int // changes that contradict the base (logged)
}

// historySpill is a stage of closed versions with the table columns of an
// earlier schema.
type historySpill struct {
	files []string
	hist  *formats.TableSchema
	evo   *evolution // to th.schema's columns
}

// keyHistory is what the replayed changes did to one primary key.
type keyHistory struct {
	touched bool
	// base is how the base's version of the key ended (nil: it did not,
	// or the base had none).
	base *versionEnd
	// open is the key's current version from the replayed changes;
	// closed is the one the current transaction closed (not yet written).
	open   *version
	closed *version
	// undone is the last version a transaction made and unmade: a version
	// the same transaction makes again keeps its start op.
	undone *version
}

type versionEnd struct {
	pos  string
	time time.Time
	op   string
}

type version struct {
	row      formats.Row
	from     string
	fromTime time.Time
	startOp  string
	end      *versionEnd
}

// newHistories prepares the history of every table of o that has
// History set. A table's history continues the previous generation's when
// it has one with the same columns; otherwise it starts from the base's
// rows, one "snapshot" version each, valid from the base's position.
//
// A history in restart (a change of its table's columns it cannot be
// carried across, see histories.restart) starts from the base's rows.
func newHistories(ctx context.Context, store lake.Store, g uint64, prev *Generation, b *base, o Options, log *slog.Logger, restart map[formats.TableID]string) (*histories, error) {
	var hs *histories
	for _, t := range o.Tables {
		if !t.History {
			continue
		}
		if hs == nil {
			hs = &histories{tables: map[formats.TableID]*tableHistory{}, restart: map[formats.TableID]string{}}
		}
		// What an earlier attempt of this rebuild staged or wrote.
		if _, err := deleteUnder(ctx, store, HistoryPrefix(t.ID, g)+"/", historyStage(g, t.ID)+"/"); err != nil {
			return nil, err
		}
		bt := b.tables[t.ID]
		th := &tableHistory{t: t, g: g, o: o, store: store, log: log.With("history", t.ID.String()),
			since: bt.pos, baseFiles: bt.files, keys: map[string]*keyHistory{}}
		schema := bt.schema
		why, restarting := restart[t.ID]
		if restarting {
			th.log.Info("HistoryRestarted", "event", "HistoryRestarted", "base", bt.desc, "position", bt.pos.String(), "reason", why)
		} else if ph, ps, err := prevHistory(prev, t.ID, bt.schema); err != nil {
			return nil, err
		} else if ph != nil {
			if schema == nil {
				schema = ps
			}
			cut, err := prev.CutPosition()
			if err != nil {
				return nil, err
			}
			th.fromPrev, th.since, th.baseFiles = true, cut, nil
			for _, f := range ph.Files {
				th.prevFiles = append(th.prevFiles, f.Key)
			}
		} else if prev != nil {
			th.log.Info("history starts at the base", "base", bt.desc, "position", bt.pos.String())
		}
		if schema != nil {
			if err := th.setSchema(schema); err != nil {
				return nil, err
			}
			th.startSchema, th.startHist = th.schema, th.hist
		}
		hs.tables[t.ID] = th
		hs.order = append(hs.order, t.ID)
	}
	return hs, nil
}

// prevHistory returns prev's history of table id, and the table schema it
// was written for, when the rebuild can continue it: it exists and has
// the columns of schema (the base's; nil when unknown, then any known
// history is continued).
func prevHistory(prev *Generation, id formats.TableID, schema *formats.TableSchema) (*TableSnapshot, *formats.TableSchema, error) {
	if prev == nil {
		return nil, nil, nil
	}
	for i := range prev.Histories {
		h := &prev.Histories[i]
		if h.Table != id.String() || h.Columns == nil {
			continue
		}
		hs, err := h.Schema()
		if err != nil {
			return nil, nil, err
		}
		n := len(hs.Columns) - len(historyColumns)
		if n <= 0 {
			return nil, nil, nil
		}
		ts := &formats.TableSchema{Table: id, PK: hs.PK, Columns: hs.Columns[:n:n]}
		if schema != nil && !compatibleSchema(schema, ts) {
			return nil, nil, nil // the table's columns changed: a new history starts
		}
		return h, ts, nil
	}
	return nil, nil, nil
}

// setSchema fixes the table's schema, from the base or the first change.
func (th *tableHistory) setSchema(s *formats.TableSchema) error {
	hist, err := HistorySchema(s)
	if err != nil {
		return err
	}
	sch, err := snapshot.SchemaOf(hist.Columns)
	if err != nil {
		return err
	}
	th.schema, th.hist, th.sch = s, hist, sch
	return nil
}

func historyStage(g uint64, t formats.TableID) string {
	return fmt.Sprintf("%s/history/%s/%s", stagingPrefix(g), t.DB, t.Table)
}

// open starts the history's writer: the stage of closed versions (stage)
// or the history itself.
func (th *tableHistory) open(ctx context.Context, stage bool) error {
	prefix := HistoryPrefix(th.t.ID, th.g)
	var spec snapshot.PartitionSpec
	if stage {
		th.stageNo++
		prefix = fmt.Sprintf("%s/%d", historyStage(th.g, th.t.ID), th.stageNo)
	} else {
		var err error
		if spec, err = snapshot.ParsePartitionSpec(th.t.Partition, th.schema); err != nil {
			return err
		}
	}
	w, err := snapshot.NewWriter(th.store, prefix, th.sch, spec, snapshot.Options{
		FileOptions:  snapshot.FileOptions{Codec: th.o.Codec, RowGroupRows: th.o.RowGroupRows},
		MaxOpenFiles: th.o.MaxOpenFiles,
	})
	if err != nil {
		return err
	}
	th.w = w
	th.batch = newRowBatcher(th.sch, th.hist, th.o.BatchRows, func(rec arrow.Record) error {
		if !stage {
			th.rows += rec.NumRows()
		}
		return w.Write(ctx, rec)
	})
	return nil
}

// closeStage ends the current stage of closed versions, if any, as a
// spill.
func (th *tableHistory) closeStage() error {
	if th.w == nil {
		return nil
	}
	err := th.batch.flush()
	th.batch.release()
	files, cerr := th.w.Close()
	th.w = nil
	if err = errors.Join(err, cerr); err != nil {
		return err
	}
	sp := historySpill{hist: th.hist}
	for _, f := range files {
		sp.files = append(sp.files, f.Key)
	}
	th.spills = append(th.spills, sp)
	return nil
}

// evolve carries the history across a DDL (ddl.go): the versions in
// memory take the new columns, staged ones and the base's will.
func (th *tableHistory) evolve(e *evolution) error {
	if err := th.closeStage(); err != nil {
		return err
	}
	for _, st := range th.keys {
		for _, v := range []*version{st.open, st.closed, st.undone} {
			if v == nil {
				continue
			}
			r, err := e.row(v.row)
			if err != nil {
				return err
			}
			v.row = r
		}
	}
	for i := range th.spills {
		if sp := &th.spills[i]; sp.evo == nil {
			sp.evo = e
		} else {
			sp.evo = sp.evo.then(e)
		}
	}
	if th.baseEvo == nil {
		th.baseEvo = e
	} else {
		th.baseEvo = th.baseEvo.then(e)
	}
	return th.setSchema(e.to)
}

// txn applies one archived transaction (in commit order) to the histories.
func (hs *histories) txn(ctx context.Context, txn *formats.Txn, dd *ddls) error {
	if hs == nil {
		return nil
	}
	var touched []*tableHistory
	for i := range txn.Events {
		ev := &txn.Events[i]
		th := hs.tables[ev.Table]
		if th == nil || th.dead || txn.Pos.Compare(th.since) <= 0 {
			continue
		}
		if th.schema == nil {
			if err := th.setSchema(ev.Schema); err != nil {
				return err
			}
		} else if ev.Schema != th.schema && columnsChanged(th.schema, ev.Schema) {
			evo, why := dd.evolve(ctx, th.schema, ev.Schema, txn.CommitTime)
			if why == "" {
				if _, err := HistorySchema(evo.to); err != nil {
					return fmt.Errorf("after DDL at %s: %w", txn.Pos, err)
				}
			}
			if why != "" {
				th.dead = true
				hs.restart[ev.Table] = fmt.Sprintf("after DDL at %s: %s", txn.Pos, why)
				continue
			}
			th.log.Info("HistorySchemaEvolved", "event", "HistorySchemaEvolved", "at", txn.Pos.String(), "change", evo.desc)
			if err := th.evolve(evo); err != nil {
				return fmt.Errorf("history of %s: carrying it across the DDL at %s: %w", ev.Table, txn.Pos, err)
			}
		}
		if !slices.Contains(touched, th) {
			touched = append(touched, th)
		}
		pos := posKey(txn.Pos)
		if ev.Before != nil {
			th.end(th.key(ev.Before), pos, txn.CommitTime, ev.Op.String())
		}
		if ev.After != nil {
			th.begin(th.key(ev.After), ev.After, pos, txn.CommitTime, ev.Op.String())
		}
	}
	for _, th := range touched {
		if err := th.flushClosed(ctx); err != nil {
			return fmt.Errorf("history of %s: %w", th.t.ID, err)
		}
	}
	return nil
}

// posKey is a position's form in a history: the order key, no GTID.
func posKey(p formats.Position) string {
	p.GTID = ""
	return p.String()
}

func (th *tableHistory) state(k string) *keyHistory {
	st := th.keys[k]
	if st == nil {
		st = &keyHistory{}
		th.keys[k] = st
	}
	return st
}

// end ends key k's version at pos by op (update or delete).
func (th *tableHistory) end(k, pos string, at time.Time, op string) {
	st := th.state(k)
	defer func() { st.touched = true }()
	switch {
	case st.open != nil && st.open.from == pos:
		// Made and unmade by this transaction: never visible. What it
		// replaced now ends by this op.
		st.undone, st.open = st.open, nil
		if st.closed != nil {
			st.closed.end.op = op
		} else if st.base != nil && st.base.pos == pos {
			st.base.op = op
		}
	case st.open != nil:
		st.open.end = &versionEnd{pos: pos, time: at, op: op}
		st.closed, st.open = st.open, nil
		th.pending = append(th.pending, k)
	case !st.touched:
		st.base = &versionEnd{pos: pos, time: at, op: op}
		th.baseEnds++
	default:
		th.odd++ // the key has no version to end
	}
}

// begin starts a version of key k at pos with row.
func (th *tableHistory) begin(k string, row formats.Row, pos string, at time.Time, op string) {
	st := th.state(k)
	if st.open != nil {
		if st.open.from == pos {
			st.open.row = row
			return
		}
		th.odd++ // an insert of a key that has a version: end that one
		th.end(k, pos, at, op)
	}
	if st.undone != nil && st.undone.from == pos {
		op = st.undone.startOp
	}
	st.open = &version{row: row, from: pos, fromTime: at, startOp: op}
	st.touched = true
}

// flushClosed writes the versions the transaction just closed.
func (th *tableHistory) flushClosed(ctx context.Context) error {
	if len(th.pending) > 0 && th.w == nil {
		if err := th.open(ctx, true); err != nil {
			return err
		}
	}
	for _, k := range th.pending {
		st := th.keys[k]
		if v := st.closed; v != nil {
			st.closed = nil
			if err := th.batch.add(v.historyRow()); err != nil {
				return err
			}
		}
	}
	th.pending = th.pending[:0]
	return nil
}

func (v *version) historyRow() formats.Row {
	r := append(slices.Clip(v.row), v.from, nil, v.fromTime.UTC(), nil, v.startOp, nil)
	if v.end != nil {
		n := len(v.row)
		r[n+1], r[n+3], r[n+5] = v.end.pos, v.end.time.UTC(), v.end.op
	}
	return r
}

// key encodes r's primary key as tableChanges.key does.
func (th *tableHistory) key(r formats.Row) string {
	th.kb = appendKey(th.kb[:0], th.schema, r)
	return string(th.kb)
}

// recordKey encodes row i of rec (the table's columns first) likewise.
func (th *tableHistory) recordKey(rec arrow.Record, i int) (string, error) {
	th.kb = th.kb[:0]
	for j, ci := range th.schema.PK {
		if j > 0 {
			th.kb = append(th.kb, ',')
		}
		c := th.schema.Columns[ci]
		v, err := formats.ArrowValue(rec.Column(ci), i, c.Type)
		if err != nil {
			return "", err
		}
		th.kb = formats.AppendJSON(th.kb, c.Type, v)
	}
	return string(th.kb), nil
}

// finish writes every history and returns their manifest entries, in the
// order of o.Tables.
func (hs *histories) finish(ctx context.Context) ([]TableSnapshot, error) {
	if hs == nil {
		return nil, nil
	}
	var out []TableSnapshot
	for _, id := range hs.order {
		th := hs.tables[id]
		ts, err := th.finish(ctx)
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		out = append(out, *ts)
	}
	return out, nil
}

// abort drops what unfinished histories wrote; a no-op after finish.
func (hs *histories) abort() {
	if hs == nil {
		return
	}
	for _, th := range hs.tables {
		if th.w != nil {
			th.w.Abort()
			th.batch.release()
			th.w = nil
		}
	}
}

func (th *tableHistory) finish(ctx context.Context) (*TableSnapshot, error) {
	start := time.Now()
	ts := &TableSnapshot{Table: th.t.ID.String(), Partition: th.t.Partition, Prefix: HistoryPrefix(th.t.ID, th.g),
		Files: []snapshot.File{}}
	if th.schema == nil {
		th.log.Warn("table has no rows and no known schema: its history is empty")
		return ts, nil
	}
	ts.Columns, ts.PK = columnSpecs(th.hist), th.schema.PK
	if err := th.closeStage(); err != nil {
		return nil, err
	}
	if err := th.open(ctx, false); err != nil {
		return nil, err
	}
	var err error
	for _, sp := range th.spills {
		if err = tableRecords(ctx, th.store, sp.files, sp.hist, func(rec arrow.Record) error {
			out, err := th.reshape(rec, sp.evo)
			if err != nil {
				return err
			}
			defer out.Release()
			th.rows += out.NumRows()
			return th.w.Write(ctx, out)
		}); err != nil {
			return nil, err
		}
	}
	if th.fromPrev {
		err = tableRecords(ctx, th.store, th.prevFiles, th.startHist, func(rec arrow.Record) error {
			out, err := th.reshape(rec, th.baseEvo)
			if err != nil {
				return err
			}
			defer out.Release()
			return th.prevRecord(ctx, out)
		})
	} else if th.startSchema != nil {
		err = tableRecords(ctx, th.store, th.baseFiles, th.startSchema, func(rec arrow.Record) error {
			if th.baseEvo == nil {
				return th.baseRecord(ctx, rec)
			}
			out, err := th.baseEvo.record(rec, th.tableArrow())
			if err != nil {
				return err
			}
			defer out.Release()
			return th.baseRecord(ctx, out)
		})
	}
	if err == nil {
		err = th.rest()
	}
	if err == nil {
		err = th.batch.flush()
	}
	if err != nil {
		return nil, err
	}
	th.batch.release()
	files, err := th.w.Close()
	th.w = nil
	if err != nil {
		return nil, err
	}
	if files != nil {
		ts.Files = files
	}
	ts.Rows = th.rows
	if unmatched := th.baseEnds; th.odd > 0 || unmatched > 0 {
		th.log.Warn("changes contradict the history's base: a key without a version was updated or deleted, or an existing key inserted; rebuild with --from-source after checking the archive",
			"contradictions", th.odd+unmatched)
	}
	th.log.Info("HistoryWritten", "event", "HistoryWritten", "rows", ts.Rows, "files", len(files),
		"changed_keys", len(th.keys), "seconds", time.Since(start).Seconds())
	return ts, nil
}

// tableArrow is the Arrow schema of the table's columns.
func (th *tableHistory) tableArrow() *arrow.Schema {
	return arrow.NewSchema(th.sch.Arrow().Fields()[:len(th.schema.Columns)], nil)
}

// reshape turns a record of a history with the table columns of evo.from
// into one of th.hist (evo nil: it is one). The caller releases it.
func (th *tableHistory) reshape(rec arrow.Record, evo *evolution) (arrow.Record, error) {
	if evo == nil {
		rec.Retain()
		return rec, nil
	}
	n := len(evo.from.Columns)
	tab := array.NewRecord(arrow.NewSchema(rec.Schema().Fields()[:n], nil), rec.Columns()[:n], rec.NumRows())
	defer tab.Release()
	et, err := evo.record(tab, th.tableArrow())
	if err != nil {
		return nil, err
	}
	defer et.Release()
	cols := append(slices.Clone(et.Columns()), rec.Columns()[n:]...)
	return array.NewRecord(th.sch.Arrow(), cols, rec.NumRows()), nil
}

// prevRecord copies a record of the previous history, ending the current
// versions of the keys the replayed changes ended.
func (th *tableHistory) prevRecord(ctx context.Context, rec arrow.Record) error {
	if th.baseEnds == 0 {
		th.rows += rec.NumRows()
		return th.w.Write(ctx, rec)
	}
	n := len(th.schema.Columns)
	validTo := rec.Column(n + 1)
	ends := make([]*versionEnd, rec.NumRows())
	found := false
	for i := range ends {
		if !validTo.IsNull(i) {
			continue
		}
		k, err := th.recordKey(rec, i)
		if err != nil {
			return err
		}
		if st := th.keys[k]; st != nil && st.base != nil {
			ends[i], st.base, found = st.base, nil, true
			th.baseEnds--
		}
	}
	if !found {
		th.rows += rec.NumRows()
		return th.w.Write(ctx, rec)
	}
	cols := slices.Clone(rec.Columns())
	var err error
	for _, c := range []struct {
		idx int
		val func(*versionEnd) any
	}{
		{n + 1, func(e *versionEnd) any { return e.pos }},
		{n + 3, func(e *versionEnd) any { return e.time.UTC() }},
		{n + 5, func(e *versionEnd) any { return e.op }},
	} {
		typ := th.hist.Columns[c.idx].Type
		if cols[c.idx], err = buildColumn(typ, len(ends), func(i int) (any, error) {
			if ends[i] != nil {
				return c.val(ends[i]), nil
			}
			return formats.ArrowValue(rec.Column(c.idx), i, typ)
		}); err != nil {
			return err
		}
		defer cols[c.idx].Release()
	}
	out := array.NewRecord(th.sch.Arrow(), cols, rec.NumRows())
	defer out.Release()
	th.rows += out.NumRows()
	return th.w.Write(ctx, out)
}

// baseRecord turns a record of base rows into "snapshot" versions valid
// from the base's position, ended where the replayed changes ended them.
func (th *tableHistory) baseRecord(ctx context.Context, rec arrow.Record) error {
	nrows := int(rec.NumRows())
	ends := make([]*versionEnd, nrows)
	if th.baseEnds > 0 {
		for i := range ends {
			k, err := th.recordKey(rec, i)
			if err != nil {
				return err
			}
			if st := th.keys[k]; st != nil && st.base != nil {
				ends[i], st.base = st.base, nil
				th.baseEnds--
			}
		}
	}
	from := posKey(th.since)
	vals := []func(i int) (any, error){
		func(int) (any, error) { return from, nil },
		func(i int) (any, error) {
			if ends[i] == nil {
				return nil, nil
			}
			return ends[i].pos, nil
		},
		func(int) (any, error) { return nil, nil },
		func(i int) (any, error) {
			if ends[i] == nil {
				return nil, nil
			}
			return ends[i].time.UTC(), nil
		},
		func(int) (any, error) { return opSnapshot, nil },
		func(i int) (any, error) {
			if ends[i] == nil {
				return nil, nil
			}
			return ends[i].op, nil
		},
	}
	cols := slices.Clone(rec.Columns())
	for j, val := range vals {
		a, err := buildColumn(historyColumns[j].Type, nrows, val)
		if err != nil {
			return err
		}
		defer a.Release()
		cols = append(cols, a)
	}
	out := array.NewRecord(th.sch.Arrow(), cols, rec.NumRows())
	defer out.Release()
	th.rows += out.NumRows()
	return th.w.Write(ctx, out)
}

// rest writes the current versions the replayed changes made, in key
// order.
func (th *tableHistory) rest() error {
	for _, k := range slices.Sorted(maps.Keys(th.keys)) {
		if v := th.keys[k].open; v != nil {
			if err := th.batch.add(v.historyRow()); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildColumn builds an Arrow column of n values of type t.
func buildColumn(t formats.Type, n int, val func(i int) (any, error)) (arrow.Array, error) {
	b := array.NewBuilder(memory.DefaultAllocator, formats.ArrowType(t))
	defer b.Release()
	b.Reserve(n)
	for i := 0; i < n; i++ {
		v, err := val(i)
		if err == nil {
			err = formats.AppendArrow(b, t, v)
		}
		if err != nil {
			return nil, err
		}
	}
	return b.NewArray(), nil
}
