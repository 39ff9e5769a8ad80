package batch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/tidemark/tidemark/batch/changelog"
	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/snapshot"
	"github.com/tidemark/tidemark/formats"
)

// Source extracts a consistent snapshot of tables from the source database
// and returns its position: every transaction committed at or before it is
// in the rows, none after. emit is called once per row with the schema the
// row was read under. realtime/capture's (*Capture).Snapshot, with its
// progress argument bound to nil, has this shape.
type Source interface {
	Snapshot(ctx context.Context, tables []formats.TableID,
		emit func(ctx context.Context, s *formats.TableSchema, r formats.Row) error) (formats.Position, error)
}

// SchemaSource is optionally implemented by a Source: Rebuild asks it for
// the schemas of tables the extract emitted no row of, so that an empty
// table gets a typed (empty) snapshot and its views are published.
// realtime/capture's (*Capture).Schemas has this shape.
type SchemaSource interface {
	Schemas(ctx context.Context, tables []formats.TableID) (map[formats.TableID]*formats.TableSchema, error)
}

// Publisher loads a generation's view results into the serving store and
// flips readers to them. LoadBatch and PublishAgg are
// realtime/redisview.Store's; PublishMirrorRows is an adapter over its
// LoadMirrorBatch and PublishMirror (rows are table rows of the mirror's
// table at the cut: the adapter keys and projects them).
type Publisher interface {
	LoadBatch(ctx context.Context, view *formats.View, gen uint64, groups iter.Seq2[formats.GroupKey, *formats.Agg]) error
	PublishAgg(ctx context.Context, view *formats.View, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error
	PublishMirrorRows(ctx context.Context, view *formats.BoundView, gen uint64, cut formats.Position, cutTime time.Time,
		rows iter.Seq2[formats.Row, error]) error
}

// Table is one table the batch layer snapshots.
type Table struct {
	ID formats.TableID
	// Partition is the table's partition spec (snapshot.ParsePartitionSpec);
	// empty for one unpartitioned folder.
	Partition []string
	// History also keeps the table's SCD2 history table, rolled forward
	// each generation (history.go). The table needs a primary key.
	History bool
}

// Options configure Rebuild.
type Options struct {
	// SourceName names the source's changelog archive (changelog/<name>/).
	SourceName string
	Tables     []Table
	// Views are the views to compute; each must read one of Tables.
	Views []*formats.View
	// FromSource re-extracts the tables from the source instead of rolling
	// the previous generation forward. The first generation always does.
	FromSource bool
	// Only, when not empty, rebuilds just these of Tables (extracted or
	// rolled forward); the others are carried from the previous generation
	// by reference, with the views reading them (subset.go).
	Only []formats.TableID
	// SealedCut makes every cut a sealed segment boundary, also the first
	// generation's: an extract then waits for the archive to seal a segment
	// past it. Set it when the serving store already holds speed segments
	// (the speed layer runs), whose covered span a cut must end exactly.
	SealedCut bool
	// FirstGeneration numbers the first generation of an empty lake. The
	// serving store may already hold a generation (the speed layer's
	// bootstrap is generation 0 there), and generation numbers must only
	// grow; 0 means 0.
	FirstGeneration uint64
	// UptoSegment is the cut's segment; 0 means the last sealed one.
	UptoSegment uint64
	// Codec and RowGroupRows are the Parquet settings (snapshot.FileOptions).
	Codec        snapshot.Codec
	RowGroupRows int
	// BatchRows is the size of the Arrow record batches rows travel in.
	// 0 means 65536.
	BatchRows int
	// MaxOpenFiles bounds open partition files per table (snapshot.Options).
	MaxOpenFiles int
	// Keep is how many generations retention keeps, the new one included.
	// 0 means 3.
	Keep int
	// ArchiveWait is how long a from-source rebuild waits for the archive to
	// seal a segment at or after the extract's position. 0 means 2 minutes.
	ArchiveWait time.Duration
	// Publisher, when not nil, receives the view results after the
	// generation manifest is written.
	Publisher Publisher
	// ViewEngine, when not nil, computes the aggregate views instead of the
	// local columnar engine, over the generation's tables it prepares
	// before the manifest is written (viewengine.go). Its failure fails
	// the rebuild (ErrViewEngine): nothing is written or published.
	ViewEngine ViewEngine
	// Logger receives progress and lifecycle events; nil discards.
	Logger *slog.Logger
	// ProgressEvery is the interval of progress lines. 0 means 5s.
	ProgressEvery time.Duration
}

func (o *Options) defaults() error {
	if o.SourceName == "" {
		return errors.New("rebuild: no source name (it names the changelog archive)")
	}
	if len(o.Tables) == 0 {
		return errors.New("rebuild: no tables")
	}
	seen := map[formats.TableID]bool{}
	for i, t := range o.Tables {
		if seen[t.ID] {
			return fmt.Errorf("rebuild: tables[%d]: %s listed twice", i, t.ID)
		}
		seen[t.ID] = true
	}
	names := map[string]bool{}
	for i, v := range o.Views {
		if !seen[v.From] {
			return fmt.Errorf("rebuild: views[%d] %s reads %s, which is not among the batch tables", i, v.Name, v.From)
		}
		if names[v.Name] {
			return fmt.Errorf("rebuild: views[%d]: view %s listed twice", i, v.Name)
		}
		names[v.Name] = true
	}
	if o.BatchRows <= 0 {
		o.BatchRows = 64 << 10
	}
	if o.Keep <= 0 {
		o.Keep = 3
	}
	if o.ArchiveWait <= 0 {
		o.ArchiveWait = 2 * time.Minute
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// base is what a generation rolls forward.
type base struct {
	pos      formats.Position // the earliest table's position: replay the changes after it
	afterSeg uint64           // replay segments after this one
	desc     string
	// extracted is set when some table was extracted from the source, at
	// extractPos: the cut must then be a sealed boundary at or after it.
	extracted  bool
	extractPos formats.Position
	tables     map[formats.TableID]*baseTable
}

type baseTable struct {
	schema *formats.TableSchema // nil: unknown yet
	files  []string
	rows   int64
	pos    formats.Position // exact as of this position
	desc   string           // "source" or "generation N"
}

// maxExtracts bounds how often one rebuild extracts a table again because
// the archive showed a DDL it cannot carry the table across.
const maxExtracts = 3

// Rebuild builds and publishes the next generation (see the package doc):
// it returns the new generation's manifest once the manifest is written
// and the Publisher, if any, has flipped every view. src may be nil when
// the rebuild rolls the previous generation forward; then a table that
// needs an extract (a new table, or one whose DDL cannot be carried
// across, ddl.go) fails the rebuild.
func Rebuild(ctx context.Context, store lake.Store, src Source, o Options) (*Generation, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	start := time.Now()
	log := o.Logger
	prev, err := Latest(ctx, store)
	if err != nil {
		return nil, err
	}
	g := o.FirstGeneration
	if prev != nil {
		g = prev.Generation + 1
	}
	o, carried, err := splitSubset(prev, o)
	if err != nil {
		return nil, err
	}
	log = log.With("generation", g)
	if !o.FromSource {
		if o.FromSource, err = gapAfterCut(ctx, store, src, prev, o, log); err != nil {
			return nil, fmt.Errorf("rebuilding generation %d: %w", g, err)
		}
	}
	log.Info("RebuildStarted", "event", "RebuildStarted", "previous", prevName(prev), "from_source", o.FromSource || prev == nil)
	if err := clearAttempt(ctx, store, g, o); err != nil {
		return nil, err
	}

	var b *base
	reextract := map[formats.TableID]string{} // the tables to extract, and why
	if o.FromSource || prev == nil {
		if src == nil {
			return nil, fmt.Errorf("rebuilding generation %d: it needs an extract from the source (no previous generation or --from-source), but no source is configured", g)
		}
		pos, tables, err := extract(ctx, store, src, g, o.Tables, o, log)
		if err != nil {
			return nil, err
		}
		b = &base{pos: pos, desc: "source", extracted: true, extractPos: pos, tables: tables}
		if prev != nil {
			// Replay the archive from the last generation's cut: the
			// extract is newer, so its position lies after it.
			b.afterSeg = prev.CutSegment
		}
	} else if b, err = baseFromGeneration(prev, o, reextract); err != nil {
		return nil, err
	}

	dd := &ddls{src: src, defaults: map[formats.TableID]*TableDefaults{}, log: log}
	restartHistory := map[formats.TableID]string{}
	var (
		cut     *cutPoint
		hist    *histories
		changes map[formats.TableID]*tableChanges
	)
	defer func() { hist.abort() }()
	extracts := map[formats.TableID]int{}
	for attempt := 1; ; attempt++ {
		if attempt > maxExtracts+1 {
			return nil, fmt.Errorf("rebuilding generation %d: the archive kept showing DDL the rebuild cannot carry its tables across after %d attempts", g, maxExtracts)
		}
		if len(reextract) > 0 {
			if err := reextractTables(ctx, store, src, g, b, reextract, extracts, o, log); err != nil {
				return nil, fmt.Errorf("rebuilding generation %d: %w", g, err)
			}
			clear(reextract)
		}
		if cut, err = findCut(ctx, store, b, prev, o, log); err != nil {
			return nil, fmt.Errorf("rebuilding generation %d: %w", g, err)
		}
		if hist, err = newHistories(ctx, store, g, prev, b, o, log, restartHistory); err != nil {
			return nil, fmt.Errorf("rebuilding generation %d: %w", g, err)
		}
		var redo map[formats.TableID]string
		if changes, redo, err = replay(ctx, store, b, cut, o, log, hist, dd); err != nil {
			return nil, fmt.Errorf("rebuilding generation %d: %w", g, err)
		}
		for id, why := range hist.restarts() {
			// The history starts anew from the table's rows, which must
			// be past the change: an extract, unless the table's base
			// already is one.
			restartHistory[id] = why
			if _, ok := redo[id]; !ok && b.tables[id].desc != "source" {
				redo[id] = "for its history, " + why
			}
		}
		if len(redo) == 0 && len(hist.restarts()) == 0 {
			break
		}
		hist.abort()
		hist = nil
		maps.Copy(reextract, redo)
	}
	log = log.With("cut", cut.pos.String(), "cut_segment", cut.seg)

	gen := &Generation{
		Version: generationVersion, Generation: g, Source: o.SourceName,
		Cut: cut.pos.String(), CutSegment: cut.seg, CutTime: cut.time.UTC(),
		Base: b.desc, BasePosition: b.pos.String(),
	}
	bound := map[string]*formats.BoundView{}
	deltas := map[string]formats.Delta{}
	for _, t := range o.Tables {
		bt := b.tables[t.ID]
		ts, err := writeTable(ctx, store, g, t, bt, changes[t.ID], o, bound, deltas, log)
		if err != nil {
			return nil, fmt.Errorf("rebuilding generation %d: table %s: %w", g, t.ID, err)
		}
		if bt.desc != b.desc {
			ts.Base = bt.desc + " at " + bt.pos.String()
		}
		gen.Tables = append(gen.Tables, *ts)
	}
	if gen.Histories, err = hist.finish(ctx); err != nil {
		return nil, fmt.Errorf("rebuilding generation %d: %w", g, err)
	}
	if o.ViewEngine != nil {
		if err := engineViews(ctx, store, gen, o, bound, deltas, log); err != nil {
			return nil, fmt.Errorf("rebuilding generation %d: %w", g, err)
		}
	}
	for _, v := range o.Views {
		bv := bound[v.Name]
		if bv == nil || v.Mirror {
			continue
		}
		vs, err := writeView(ctx, store, g, bv, deltas[v.Name], o)
		if err != nil {
			return nil, fmt.Errorf("rebuilding generation %d: view %s: %w", g, v.Name, err)
		}
		log.Info("ViewComputed", "event", "ViewComputed", "view", v.Name, "groups", vs.Groups)
		gen.Views = append(gen.Views, *vs)
	}
	carried.addTo(gen)
	gen.CreatedAt = time.Now().UTC()
	gen.Seconds = time.Since(start).Seconds()
	if err := putJSON(ctx, store, generationKey(g), gen); err != nil {
		return nil, fmt.Errorf("rebuilding generation %d: writing its manifest: %w", g, err)
	}
	log.Info("GenerationWritten", "event", "GenerationWritten", "tables", len(gen.Tables), "views", len(gen.Views),
		"seconds", gen.Seconds)
	if _, err := deleteUnder(ctx, store, stagingPrefix(g)+"/"); err != nil {
		log.Warn("removing the extract's staging files failed; the next rebuild retries", "error", err)
	}
	if o.Publisher != nil {
		if err := publish(ctx, store, gen, o, bound, deltas, log); err != nil {
			return gen, fmt.Errorf("generation %d is in the lake but publishing it failed (the next rebuild publishes its successor): %w", g, err)
		}
	}
	log.Info("GenerationPublished", "event", "GenerationPublished", "seconds", time.Since(start).Seconds())
	if err := retire(ctx, store, g, o, log); err != nil {
		log.Warn("retiring old generations failed; the next rebuild retries", "error", err)
	}
	return gen, nil
}

// reextractTables extracts the tables of which from the source, alone, into
// b: each is then exact at the extract's position and rolled forward from
// there.
func reextractTables(ctx context.Context, store lake.Store, src Source, g uint64, b *base, which map[formats.TableID]string,
	extracts map[formats.TableID]int, o Options, log *slog.Logger) error {
	var tables []Table
	for _, t := range o.Tables {
		why, ok := which[t.ID]
		if !ok {
			continue
		}
		if src == nil {
			return fmt.Errorf("table %s needs an extract from the source (%s), but no source is configured", t.ID, why)
		}
		if extracts[t.ID]++; extracts[t.ID] > maxExtracts {
			return fmt.Errorf("table %s was extracted %d times and the archive still shows a change the rebuild cannot carry it across (%s); is DDL running in a loop?", t.ID, maxExtracts, why)
		}
		tables = append(tables, t)
	}
	pos, got, err := extract(ctx, store, src, g, tables, o, log)
	if err != nil {
		return err
	}
	for _, t := range tables {
		log.Info(fmt.Sprintf("table %s re-extracted %s", t.ID, which[t.ID]), "event", "TableReextracted", "table", t.ID.String(),
			"position", pos.String())
		b.tables[t.ID] = got[t.ID]
	}
	if !b.extracted || pos.Compare(b.extractPos) > 0 {
		b.extractPos = pos
	}
	b.extracted = true
	return nil
}

func prevName(p *Generation) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(p.Generation)
}

// clearAttempt deletes what an earlier, dead attempt at generation g left,
// and any staged extract (only a running rebuild has one).
func clearAttempt(ctx context.Context, store lake.Store, g uint64, o Options) error {
	prefixes := []string{stagingDir}
	for _, t := range o.Tables {
		// A history too, kept or not now: the dead attempt may have had one.
		prefixes = append(prefixes, TablePrefix(t.ID, g)+"/", HistoryPrefix(t.ID, g)+"/")
	}
	for _, v := range o.Views {
		prefixes = append(prefixes, ViewPrefix(v.Name, g)+"/")
	}
	if _, err := deleteUnder(ctx, store, prefixes...); err != nil {
		return fmt.Errorf("clearing an earlier attempt at generation %d: %w", g, err)
	}
	return nil
}

// keysUnder lists the keys under prefix.
func keysUnder(ctx context.Context, store lake.Store, prefix string) ([]string, error) {
	objs, err := store.List(ctx, prefix)
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", prefix, err)
	}
	keys := make([]string, len(objs))
	for i, ob := range objs {
		keys[i] = ob.Key
	}
	return keys, nil
}

// deleteUnder deletes every object under the prefixes, listing them all
// first: nothing is deleted unless every listing succeeded.
func deleteUnder(ctx context.Context, store lake.Store, prefixes ...string) (int, error) {
	var keys []string
	for _, p := range prefixes {
		k, err := keysUnder(ctx, store, p)
		if err != nil {
			return 0, err
		}
		keys = append(keys, k...)
	}
	if err := store.Delete(ctx, keys...); err != nil {
		return 0, err
	}
	return len(keys), nil
}

// baseFromGeneration is prev's tables; a table prev does not have goes to
// reextract (a table added since: it joins the generation from an extract).
func baseFromGeneration(prev *Generation, o Options, reextract map[formats.TableID]string) (*base, error) {
	pos, err := prev.CutPosition()
	if err != nil {
		return nil, err
	}
	desc := fmt.Sprintf("generation %d", prev.Generation)
	b := &base{pos: pos, afterSeg: prev.CutSegment, desc: desc, tables: map[formats.TableID]*baseTable{}}
	have := map[string]*TableSnapshot{}
	for i := range prev.Tables {
		have[prev.Tables[i].Table] = &prev.Tables[i]
	}
	for _, t := range o.Tables {
		ts := have[t.ID.String()]
		if ts == nil {
			reextract[t.ID] = fmt.Sprintf("as a table new to the batch layer (generation %d does not have it)", prev.Generation)
			b.tables[t.ID] = &baseTable{pos: pos, desc: desc}
			continue
		}
		s, err := ts.Schema()
		if err != nil {
			return nil, err
		}
		tpos, tseg, err := ts.exactAt(prev)
		if err != nil {
			return nil, err
		}
		if tpos.Compare(b.pos) < 0 { // carried forward: replay from its own position
			b.pos, b.afterSeg = tpos, min(b.afterSeg, tseg)
		}
		bt := &baseTable{schema: s, rows: ts.Rows, pos: tpos, desc: desc}
		for _, f := range ts.Files {
			bt.files = append(bt.files, f.Key)
		}
		b.tables[t.ID] = bt
	}
	return b, nil
}

type cutPoint struct {
	pos  formats.Position
	seg  uint64
	time time.Time
	ms   []*changelog.Manifest
}

// findCut picks the cut: the last sealed segment (or UptoSegment), which
// must be at or after the base; with an empty archive, the base itself.
func findCut(ctx context.Context, store lake.Store, b *base, prev *Generation, o Options, log *slog.Logger) (*cutPoint, error) {
	r := changelog.NewReader(store, o.SourceName)
	last, err := r.Last(ctx)
	if err != nil {
		return nil, err
	}
	if b.extracted && (last != nil || o.SealedCut) {
		// The cut must be a boundary at or after the extract's position.
		// On an idle source the archive seals the extract's segment at the
		// capture's first tick after the segment's time (no heartbeat table
		// needed): within a segment and a tick.
		start := time.Now()
		deadline := start.Add(o.ArchiveWait)
		var reported time.Time
		for {
			lp := formats.Position{}
			if last != nil {
				if lp, err = last.LastPosition(); err != nil {
					return nil, err
				}
			}
			if last != nil && lp.Compare(b.extractPos) >= 0 {
				break
			}
			if time.Now().After(deadline) {
				seg := uint64(0)
				if last != nil {
					seg = last.Segment
				}
				return nil, fmt.Errorf("the changelog archive's last sealed segment %d ends at %s, before the extract's position %s, and sealed nothing newer within %s: is the archiver running (tidemark run with the batch role)?",
					seg, lp, b.extractPos, o.ArchiveWait)
			}
			if time.Since(reported) >= 5*time.Second { // a progress line, not one per poll
				reported = time.Now()
				log.Info("waiting for the changelog archive to seal a segment at or after the extract's position",
					"archive_last", lp.String(), "extract", b.extractPos.String(), "waited", time.Since(start).Round(time.Second), "gives_up_after", o.ArchiveWait)
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			if last, err = r.Last(ctx); err != nil {
				return nil, err
			}
		}
	}
	cut := &cutPoint{pos: b.pos, seg: b.afterSeg, time: time.Now()}
	if prev != nil && b.desc != "source" {
		cut.time = prev.CutTime
	}
	if b.extracted && b.extractPos.Compare(cut.pos) > 0 {
		// Nothing sealed after the base: only an extract exactly at the
		// base's position (an idle source) can be the cut.
		if last == nil || last.Segment <= b.afterSeg {
			return nil, fmt.Errorf("the extract's position %s is after the last sealed segment's end %s: %w", b.extractPos, cut.pos, changelog.ErrNotSealed)
		}
	}
	if last == nil || last.Segment <= b.afterSeg {
		if o.UptoSegment != 0 && o.UptoSegment != b.afterSeg {
			return nil, fmt.Errorf("segment %d is not sealed: %w", o.UptoSegment, changelog.ErrNotSealed)
		}
		return cut, nil
	}
	upto := last.Segment
	if o.UptoSegment != 0 {
		if o.UptoSegment < b.afterSeg {
			return nil, fmt.Errorf("cut segment %d is before the base's segment %d", o.UptoSegment, b.afterSeg)
		}
		upto = o.UptoSegment
	}
	ms, err := r.Manifests(ctx, b.afterSeg, upto)
	if err != nil {
		return nil, err
	}
	if len(ms) == 0 {
		return cut, nil
	}
	if err := changelog.CheckNoGap(o.SourceName, ms, b.pos); err != nil {
		return nil, fmt.Errorf("%s cannot be rolled forward to the cut (the next rebuild re-extracts from the source): %w", b.desc, err)
	}
	// The archive must cover every change after the base: its first
	// replayed segment must start at or before the base's position. (After
	// a generation's cut segment the chain makes this an equality; from
	// the archive's start, the start may precede the base.)
	var fp formats.Position
	if first := ms[0].PrevLast; first != (formats.Position{}).String() {
		if fp, err = formats.ParsePosition(first); err != nil {
			return nil, fmt.Errorf("segment %d: previous position %q: %w", ms[0].Segment, first, err)
		}
	}
	if fp.Compare(b.pos) > 0 {
		return nil, fmt.Errorf("the archive's segment %d starts after %s, but %s ends at %s: the changes between them are not archived: %w",
			ms[0].Segment, fp, b.desc, b.pos, changelog.ErrGap)
	}
	m := ms[len(ms)-1]
	lp, err := m.LastPosition()
	if err != nil {
		return nil, err
	}
	if b.extracted && lp.Compare(b.extractPos) < 0 {
		return nil, fmt.Errorf("cut segment %d ends at %s, before the extract's position %s", m.Segment, lp, b.extractPos)
	}
	return &cutPoint{pos: lp, seg: m.Segment, time: m.LastCommit, ms: ms}, nil
}

// replay reads the archived changes after the base up to the cut into
// per-table net changes, and gives every replayed transaction to hist. A
// table whose columns changed in a way its rows cannot be carried across
// (ddl.go) is returned in redo with the reason, and its changes are
// dropped: the caller extracts it again and replays anew.
func replay(ctx context.Context, store lake.Store, b *base, cut *cutPoint, o Options, log *slog.Logger, hist *histories,
	dd *ddls) (map[formats.TableID]*tableChanges, map[formats.TableID]string, error) {
	changes := map[formats.TableID]*tableChanges{}
	for _, t := range o.Tables {
		changes[t.ID] = newTableChanges(b.tables[t.ID].schema)
	}
	if len(cut.ms) == 0 {
		return changes, nil, nil
	}
	var txns, events int64
	redo := map[formats.TableID]string{}
	r := changelog.NewReader(store, o.SourceName)
	for txn, err := range r.ReadSegments(ctx, changelog.AfterGaps(cut.ms, b.afterSeg), cut.seg) {
		if err != nil {
			return nil, nil, err
		}
		// Histories continuing the previous generation's need the changes
		// between its cut and a newer extract too.
		if err := hist.txn(ctx, txn, dd); err != nil {
			return nil, nil, err
		}
		if txn.Pos.Compare(b.pos) <= 0 {
			continue
		}
		txns++
		for i := range txn.Events {
			ev := &txn.Events[i]
			tc := changes[ev.Table]
			if tc == nil || txn.Pos.Compare(b.tables[ev.Table].pos) <= 0 {
				continue
			}
			if _, ok := redo[ev.Table]; ok {
				continue
			}
			if tc.schema != nil && ev.Schema != tc.schema && columnsChanged(tc.schema, ev.Schema) {
				evo, why := dd.evolve(ctx, tc.schema, ev.Schema, txn.CommitTime)
				if why != "" {
					redo[ev.Table] = fmt.Sprintf("after DDL at %s: %s", txn.Pos, why)
					continue
				}
				log.Info("TableSchemaEvolved", "event", "TableSchemaEvolved", "table", ev.Table.String(), "at", txn.Pos.String(), "change", evo.desc)
				if err := tc.evolve(evo); err != nil {
					return nil, nil, fmt.Errorf("table %s: carrying its changes across the DDL at %s: %w", ev.Table, txn.Pos, err)
				}
			}
			if err := tc.apply(ev); err != nil {
				return nil, nil, err
			}
			events++
		}
	}
	if len(redo) > 0 {
		return nil, redo, nil
	}
	log.Info("ChangesReplayed", "event", "ChangesReplayed", "segments", len(cut.ms), "txns", txns, "events", events)
	return changes, nil, nil
}

// ddls decides how a rebuild carries tables across schema changes
// (ddl.go), asking the source for column defaults once per table.
type ddls struct {
	src      Source
	defaults map[formats.TableID]*TableDefaults
	log      *slog.Logger
}

// evolve is evolve(old, new) with added columns' values from the source's
// defaults, trusted only if the table's definition did not change after
// firstAt (the commit of the first change under the new schema).
func (d *ddls) evolve(ctx context.Context, old, new *formats.TableSchema, firstAt time.Time) (*evolution, string) {
	return evolve(old, new, func(c formats.Column) (any, string) {
		cs, ok := d.src.(ColumnDefaultSource)
		if !ok {
			return nil, "the source cannot say its default"
		}
		td, have := d.defaults[new.Table]
		if !have {
			var err error
			if td, err = cs.ColumnDefaults(ctx, new.Table); err != nil {
				d.log.Warn("reading column defaults failed; the table is extracted again instead", "table", new.Table.String(), "error", err)
				td = nil
			}
			d.defaults[new.Table] = td
		}
		if td == nil {
			return nil, "its default could not be read"
		}
		if td.DefinedAt.IsZero() {
			return nil, "the source cannot say when the table's definition changed, so its default now may not be the one older rows got"
		}
		if td.DefinedAt.After(firstAt) {
			return nil, fmt.Sprintf("the table's definition changed again at %s, after that change, so its default now may not be the one older rows got",
				td.DefinedAt.UTC().Format(time.DateTime))
		}
		cd, known := td.Columns[strings.ToLower(c.Name)]
		return defaultValue(c, cd, known)
	})
}

// writeTable writes one table's snapshot at the cut and feeds its rows to
// the table's aggregate views.
func writeTable(ctx context.Context, store lake.Store, g uint64, t Table, bt *baseTable, tc *tableChanges,
	o Options, bound map[string]*formats.BoundView, deltas map[string]formats.Delta, log *slog.Logger) (*TableSnapshot, error) {
	schema := tc.schema // the base's, or the first change's when the base had none
	ts := &TableSnapshot{Table: t.ID.String(), Columns: columnSpecs(schema), Partition: t.Partition,
		Prefix: TablePrefix(t.ID, g), Files: []snapshot.File{}}
	if schema == nil {
		log.Warn("table has no rows and no known schema: its snapshot is empty", "table", t.ID.String())
		return ts, nil
	}
	ts.PK = schema.PK
	spec, err := snapshot.ParsePartitionSpec(t.Partition, schema)
	if err != nil {
		return nil, err
	}
	sch, err := snapshot.SchemaOf(schema.Columns)
	if err != nil {
		return nil, err
	}
	w, err := snapshot.NewWriter(store, ts.Prefix, sch, spec, snapshot.Options{
		FileOptions:  snapshot.FileOptions{Codec: o.Codec, RowGroupRows: o.RowGroupRows},
		MaxOpenFiles: o.MaxOpenFiles,
	})
	if err != nil {
		return nil, err
	}
	var aggs []*formats.BoundView
	for _, v := range o.Views {
		if v.From != t.ID {
			continue
		}
		bv, err := v.Bind(schema)
		if err != nil {
			w.Abort()
			return nil, err
		}
		bound[v.Name] = bv
		if !v.Mirror {
			deltas[v.Name] = formats.Delta{}
			if o.ViewEngine == nil { // else the engine computes it, after the tables are written
				aggs = append(aggs, bv)
			}
		}
	}
	// The views are computed column-wise over exactly the record batches
	// the snapshot is written from: the base's records (or their kept rows)
	// and the batches of changed rows.
	accumulate := func(rec arrowRecord, rows []int32) error {
		for _, bv := range aggs {
			if err := bv.AccumulateRecord(rec, rows, deltas[bv.View().Name]); err != nil {
				return err
			}
		}
		return nil
	}
	batcher := newRowBatcher(sch, schema, o.BatchRows, func(rec arrowRecord) error {
		if err := accumulate(rec, nil); err != nil {
			return err
		}
		return w.Write(ctx, rec)
	})
	defer batcher.release()
	prog := newProgress(log, "table", t.ID.String(), bt.rows+tc.size(), o.ProgressEvery)
	m := &merger{schema: schema, tc: tc,
		keep: func(rec arrowRecord, rows []int32) error {
			n := rec.NumRows()
			if rows != nil {
				n = int64(len(rows))
			}
			prog.add(n)
			if err := accumulate(rec, rows); err != nil {
				return err
			}
			return w.WriteRows(ctx, rec, rows)
		},
		row: func(r formats.Row) error {
			prog.add(1)
			return batcher.add(r)
		},
	}
	record := m.record
	if tc.baseEvo != nil {
		// The base was written before a DDL: its records become records
		// of the schema at the cut first.
		arrowSch := sch.Arrow()
		record = func(rec arrowRecord) error {
			out, err := tc.baseEvo.record(rec, arrowSch)
			if err != nil {
				return err
			}
			defer out.Release()
			return m.record(out)
		}
	}
	err = nil
	if bt.schema != nil {
		err = tableRecords(ctx, store, bt.files, bt.schema, record)
	}
	if err == nil {
		err = m.rest()
	}
	if err != nil {
		w.Abort()
		return nil, err
	}
	if err := batcher.flush(); err != nil {
		w.Abort()
		return nil, err
	}
	files, err := w.Close()
	if err != nil {
		return nil, err
	}
	ts.Files = files
	ts.Rows = prog.done
	if ts.Files == nil {
		ts.Files = []snapshot.File{}
	}
	prog.finish("TableSnapshotWritten", "files", len(files))
	return ts, nil
}

// writeView writes an aggregate view's result rows, one per group, sorted
// by group key.
func writeView(ctx context.Context, store lake.Store, g uint64, bv *formats.BoundView, d formats.Delta, o Options) (*ViewSnapshot, error) {
	cols := bv.Columns()
	fcols := make([]formats.Column, len(cols))
	for i, c := range cols {
		fcols[i] = formats.Column{Name: c.Name, Type: c.Type, Nullable: true}
	}
	vs := &ViewSnapshot{View: bv.View().Name, Columns: columnSpecs(&formats.TableSchema{Columns: fcols}),
		Prefix: ViewPrefix(bv.View().Name, g)}
	sch, err := snapshot.SchemaOf(fcols)
	if err != nil {
		return nil, err
	}
	w, err := snapshot.NewWriter(store, vs.Prefix, sch, snapshot.PartitionSpec{}, snapshot.Options{
		FileOptions: snapshot.FileOptions{Codec: o.Codec, RowGroupRows: o.RowGroupRows},
	})
	if err != nil {
		return nil, err
	}
	batcher := newRowBatcher(sch, &formats.TableSchema{Columns: fcols}, o.BatchRows, func(rec arrowRecord) error { return w.Write(ctx, rec) })
	defer batcher.release()
	for _, k := range slices.Sorted(maps.Keys(d)) {
		row, ok := bv.Result(k, d[k])
		if !ok {
			continue
		}
		if err := batcher.add(row); err != nil {
			w.Abort()
			return nil, err
		}
		vs.Groups++
	}
	if err := batcher.flush(); err != nil {
		w.Abort()
		return nil, err
	}
	if vs.Files, err = w.Close(); err != nil {
		return nil, err
	}
	if vs.Files == nil {
		vs.Files = []snapshot.File{}
	}
	return vs, nil
}

func publish(ctx context.Context, store lake.Store, gen *Generation, o Options, bound map[string]*formats.BoundView,
	deltas map[string]formats.Delta, log *slog.Logger) error {
	cut, err := gen.CutPosition()
	if err != nil {
		return err
	}
	files := map[string][]string{}
	for _, t := range gen.Tables {
		for _, f := range t.Files {
			files[t.Table] = append(files[t.Table], f.Key)
		}
	}
	for _, v := range o.Views {
		bv := bound[v.Name]
		if bv == nil {
			continue // its table had no known schema: nothing to publish yet
		}
		if v.Mirror {
			rows := tableRows(ctx, store, files[v.From.String()], bv.Schema())
			if err := o.Publisher.PublishMirrorRows(ctx, bv, gen.Generation, cut, gen.CutTime, rows); err != nil {
				return fmt.Errorf("publishing mirror %s: %w", v.Name, err)
			}
		} else {
			d := deltas[v.Name]
			groups := func(yield func(formats.GroupKey, *formats.Agg) bool) {
				for k, a := range d {
					if !yield(k, a) {
						return
					}
				}
			}
			if err := o.Publisher.LoadBatch(ctx, v, gen.Generation, groups); err != nil {
				return fmt.Errorf("loading view %s: %w", v.Name, err)
			}
			if err := o.Publisher.PublishAgg(ctx, v, gen.Generation, cut, gen.CutSegment, gen.CutTime); err != nil {
				return fmt.Errorf("publishing view %s: %w", v.Name, err)
			}
		}
		log.Info("ViewPublished", "event", "ViewPublished", "view", v.Name)
	}
	return nil
}

// retire deletes generations older than the Keep newest. Each one's
// folders are listed first, then their files deleted, and its manifest
// last: a failed listing or deletion leaves the manifest in place, so the
// next rebuild retries the whole generation and no file is orphaned. Then
// sweep removes generation folders below the oldest kept generation that
// no manifest names (left by a crash, or by a retention that lost its
// manifest first).
func retire(ctx context.Context, store lake.Store, g uint64, o Options, log *slog.Logger) error {
	gens, err := Generations(ctx, store)
	if err != nil {
		return err
	}
	retired := func(n uint64) bool { return n+uint64(o.Keep) <= g }
	refs, err := referencedPrefixes(ctx, store, gens, retired)
	if err != nil {
		return err
	}
	var errs []error
	for _, old := range gens {
		if !retired(old) {
			continue
		}
		gen, err := ReadGeneration(ctx, store, old)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// A folder a kept generation still names (a table carried
		// forward by a subset rebuild) stays.
		var prefixes []string
		for _, f := range gen.folders() {
			if !refs[f] {
				prefixes = append(prefixes, f)
			}
		}
		n, err := deleteUnder(ctx, store, prefixes...)
		if err == nil {
			err = store.Delete(ctx, generationKey(old))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("retiring generation %d: %w", old, err))
			continue
		}
		log.Info("GenerationRetired", "event", "GenerationRetired", "retired", old, "objects", n)
	}
	if len(errs) == 0 {
		errs = append(errs, sweep(ctx, store, g, o, log))
	}
	return errors.Join(errs...)
}

// sweep deletes the objects of generation folders (tables/, history/ and
// views/) numbered below the oldest generation retention keeps that have
// no manifest: nothing can read them.
func sweep(ctx context.Context, store lake.Store, g uint64, o Options, log *slog.Logger) error {
	gens, err := Generations(ctx, store)
	if err != nil {
		return err
	}
	oldest := g + 1 - min(g+1, uint64(o.Keep))
	if len(gens) > 0 {
		oldest = min(oldest, gens[0])
	}
	published := map[uint64]bool{}
	for _, n := range gens {
		published[n] = true
	}
	refs, err := referencedPrefixes(ctx, store, gens, func(uint64) bool { return false })
	if err != nil {
		return err
	}
	var keys []string
	for _, top := range []struct {
		prefix string
		depth  int // path elements before gen=N
	}{{"tables/", 3}, {"history/", 3}, {"views/", 2}} {
		objs, err := store.List(ctx, top.prefix)
		if err != nil {
			return fmt.Errorf("sweeping %s: %w", top.prefix, err)
		}
		for _, ob := range objs {
			parts := strings.SplitN(ob.Key, "/", top.depth+2)
			if len(parts) < top.depth+2 {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimPrefix(parts[top.depth], "gen="), 10, 64)
			if err != nil || !strings.HasPrefix(parts[top.depth], "gen=") || n >= oldest || published[n] ||
				refs[strings.Join(parts[:top.depth+1], "/")+"/"] {
				continue
			}
			keys = append(keys, ob.Key)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	if err := store.Delete(ctx, keys...); err != nil {
		return fmt.Errorf("sweeping unpublished generation folders: %w", err)
	}
	log.Info("GenerationFoldersSwept", "event", "GenerationFoldersSwept", "below", oldest, "objects", len(keys))
	return nil
}

// progress logs a long step's rows done, total and rate.
type progress struct {
	log     *slog.Logger
	attrs   []any
	total   int64
	done    int64
	start   time.Time
	next    time.Time
	every   time.Duration
	pending int64 // rows since the clock was last looked at
}

func newProgress(log *slog.Logger, key, name string, total int64, every time.Duration) *progress {
	now := time.Now()
	return &progress{log: log, attrs: []any{key, name}, total: total, start: now, next: now.Add(every), every: every}
}

func (p *progress) add(n int64) {
	p.done += n
	if p.pending += n; p.pending < 4096 {
		return
	}
	p.pending = 0
	if now := time.Now(); now.After(p.next) {
		p.next = now.Add(p.every)
		p.log.Info("rebuild progress", append(p.attrs, "rows", p.done, "total_estimate", p.total,
			"rows_per_second", int64(float64(p.done)/now.Sub(p.start).Seconds()))...)
	}
}

func (p *progress) finish(event string, attrs ...any) {
	sec := time.Since(p.start).Seconds()
	p.log.Info(event, append(append([]any{"event", event}, p.attrs...), append([]any{"rows", p.done, "seconds", sec,
		"rows_per_second", int64(float64(p.done) / max(sec, 1e-9))}, attrs...)...)...)
}

func putJSON(ctx context.Context, store lake.Store, key string, v any) error {
	b, err := jsonIndent(v)
	if err != nil {
		return err
	}
	return store.Put(ctx, key, bytes.NewReader(b))
}
