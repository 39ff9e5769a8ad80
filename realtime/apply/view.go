package apply

import (
	"errors"
	"fmt"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/realtime/redisview"
)

// arenaChunk is the size of the chunks mirror rows are encoded into.
const arenaChunk = 64 << 10

// binding is the view bound to one schema.
type binding struct {
	b   *formats.BoundView
	fp  string                   // mirror: redisview.MirrorFingerprint(b)
	enc *redisview.MirrorEncoder // mirror: encodes b's rows
}

// viewState is one view's position and its next batch.
type viewState struct {
	view  *formats.View
	bound map[*formats.TableSchema]binding

	// As stored in Redis (after the last applied batch).
	ckpt        formats.Position
	seg         uint64
	ckptTime    time.Time // commit time of ckpt (Txn.Stamp); zero when unknown
	fingerprint string    // of the stored state

	// tail is the last transaction folded for the view (in flight or in
	// the next batch), tailSeg its segment and tailTime its commit time
	// (its Txn.Stamp, of clock tailClock); they start at the stored
	// checkpoint.
	tail      formats.Position
	tailSeg   uint64
	tailTime  time.Time
	tailClock formats.Clock

	// The next batch: the transactions after from up to tail.
	from    formats.Position
	advance bool // some transaction of the batch is new to the view
	skipped int  // batches sent since the view's last (see Config.DeferBatches)
	segs    []redisview.SegDelta
	rows    map[string]int // mirror: key → index in changes
	changes []redisview.MirrorChange
	lastFP  string // mirror: fingerprint of the last bound schema
	// Mirror: the version of the transaction being folded, rendered once,
	// and the length of the last stored row, to size the next.
	ver    []byte
	verOf  formats.Position
	rowLen int
	// arena holds the stored rows of the next batch, row after row (see
	// addMirror); a batch sent keeps its chunks, the next starts anew.
	arena []byte
	// known is what the applier knows of an aggregate's stored states;
	// batches sent while the applier keeps up use it to take the
	// arithmetic out of Redis (see redisview.Known).
	known *redisview.Known
	// knownSeen is known's Counts as last reported to Metrics.
	knownSeen [2]int

	// active is take's scratch: the transaction being folded is new to
	// the view.
	active bool
}

// start positions the view at its stored checkpoint, with an empty next
// batch.
func (vs *viewState) start(m redisview.Meta) {
	vs.ckpt, vs.seg, vs.ckptTime, vs.fingerprint = m.Checkpoint, m.Segment, m.CheckpointTime, m.Fingerprint
	vs.tail, vs.tailSeg, vs.tailTime, vs.tailClock = m.Checkpoint, m.Segment, m.CheckpointTime, m.CheckpointClock
	vs.from, vs.advance, vs.skipped = m.Checkpoint, false, 0
	vs.segs, vs.changes = nil, nil
	clear(vs.rows)
	if !vs.view.Mirror {
		vs.known, vs.knownSeen = redisview.NewKnown(m.Segment, 0), [2]int{}
	}
}

// sent hands the next batch over to the store: the view's next batch
// starts empty where it ended. The deltas and rows now belong to the call.
func (vs *viewState) sent() {
	vs.from, vs.advance, vs.skipped = vs.tail, false, 0
	// Sized like the batch just sent: under a backlog the next is as
	// large, and growing it by doubling would make garbage of twice it.
	vs.segs, vs.changes = nil, make([]redisview.MirrorChange, 0, len(vs.changes))
	vs.arena = nil // its rows belong to the call
	// clear costs the map's capacity, not its length, and a map keeps
	// the capacity a catch-up's batches grew it to: a small batch (low
	// lag) would pay for clearing and probing a big map every time.
	if len(vs.rows) > 1024 {
		vs.rows = nil
	} else {
		clear(vs.rows)
	}
}

// landed records that a batch of the view is in Redis, up to l.
func (vs *viewState) landed(l landing) {
	vs.ckpt, vs.seg = l.pos, l.seg
	if !l.time.IsZero() {
		vs.ckptTime = l.time
	}
	if l.fp != "" {
		vs.fingerprint = l.fp
	}
}

// bind returns the view bound to schema s, binding it on first sight of s:
// rows decode with the schema they were written under, and a DDL gives
// later events a new schema pointer.
func (vs *viewState) bind(s *formats.TableSchema) (binding, error) {
	if s == nil {
		return binding{}, fmt.Errorf("view %s: event without schema", vs.view.Name)
	}
	if b, ok := vs.bound[s]; ok {
		return b, nil
	}
	bv, err := vs.view.Bind(s)
	if err != nil {
		if errors.Is(err, formats.ErrShapeChanged) {
			return binding{}, fmt.Errorf("view %s: %w; reset and bootstrap the view again", vs.view.Name, err)
		}
		return binding{}, fmt.Errorf("binding view %s: %w", vs.view.Name, err)
	}
	b := binding{b: bv}
	if vs.view.Mirror {
		b.fp, b.enc = redisview.MirrorFingerprint(bv), redisview.NewMirrorEncoder(bv)
	}
	// Schemas are few; dropping the cache when it grows keeps memory
	// bounded across many DDLs without tracking which schemas are gone.
	if len(vs.bound) >= 64 {
		clear(vs.bound)
	}
	vs.bound[s] = b
	return b, nil
}

// add folds one event of transaction t into the pending batch.
func (vs *viewState) add(t *formats.Txn, ev *formats.Event) error {
	b, err := vs.bind(ev.Schema)
	if err != nil {
		return err
	}
	if vs.view.Mirror {
		return vs.addMirror(b, t, ev)
	}
	var d formats.Delta
	if n := len(vs.segs); n > 0 && vs.segs[n-1].Seg == vs.tailSeg {
		d = vs.segs[n-1].Delta
	} else {
		d = formats.Delta{}
		vs.segs = append(vs.segs, redisview.SegDelta{Seg: vs.tailSeg, Delta: d})
	}
	return b.b.Accumulate(*ev, d)
}

func (vs *viewState) addMirror(bd binding, t *formats.Txn, ev *formats.Event) error {
	b, fp := bd.b, bd.fp
	if fp != vs.lastFP {
		if vs.lastFP != "" && len(vs.changes) > 0 {
			// Rows of two layouts must not share one batch: the store
			// refuses the batch, and the view must be rebuilt anyway.
			return fmt.Errorf("mirror %s: %w: the columns of %s changed at %s; reset and bootstrap the mirror again",
				vs.view.Name, redisview.ErrLayoutMismatch, ev.Table, ev.Pos)
		}
		vs.lastFP = fp
	}
	if vs.ver == nil || vs.verOf != t.Pos {
		vs.ver, vs.verOf = t.Pos.AppendTo(vs.ver[:0]), t.Pos
	}
	put := func(key formats.GroupKey, r formats.Row) {
		// Rows are encoded one after the other into shared chunks: one
		// allocation per chunk instead of one per row. A row that outgrows
		// the chunk's room moves the rest to a new one (append copies).
		if need := len(vs.ver) + vs.rowLen + 8; cap(vs.arena)-len(vs.arena) < need {
			// A batch's chunks grow from 4 KiB to arenaChunk: a batch of
			// a few rows (low lag) does not allocate and zero 64 KiB.
			size := arenaChunk
			if c := cap(vs.arena); c < arenaChunk/2 {
				size = max(4<<10, 2*c)
			}
			vs.arena = make([]byte, 0, max(size, 2*need))
		}
		start := len(vs.arena)
		vs.arena = bd.enc.AppendStoredChange(vs.arena, vs.ver, r)
		stored := vs.arena[start:len(vs.arena):len(vs.arena)]
		if r != nil {
			vs.rowLen = len(stored) - len(vs.ver)
		}
		c := redisview.MirrorChange{PK: string(key), Version: t.Pos, Stored: stored}
		if vs.rows == nil {
			vs.rows = map[string]int{}
		}
		if i, ok := vs.rows[c.PK]; ok {
			vs.changes[i] = c // the later change of a key wins
			return
		}
		vs.rows[c.PK] = len(vs.changes)
		vs.changes = append(vs.changes, c)
	}
	var before, after formats.GroupKey
	var err error
	if ev.Before != nil {
		if before, err = b.MirrorKey(ev.Before); err != nil {
			return fmt.Errorf("mirroring %s at %s: %w", ev.Op, ev.Pos, err)
		}
	}
	if ev.After != nil {
		if after, err = b.MirrorKey(ev.After); err != nil {
			return fmt.Errorf("mirroring %s at %s: %w", ev.Op, ev.Pos, err)
		}
	}
	switch ev.Op {
	case formats.OpInsert:
		put(after, ev.After)
	case formats.OpUpdate:
		if before != after { // the primary key changed: the old key is gone
			put(before, nil)
		}
		put(after, ev.After)
	case formats.OpDelete:
		put(before, nil)
	default:
		return fmt.Errorf("mirroring event at %s: unknown op %s", ev.Pos, ev.Op)
	}
	return nil
}

// aggApply returns the view's next batch; a batch sent while the applier
// is behind goes without Known: it is large, so Redis's answer of the
// sums it computed would be too, and the time per group matters less
// than the time per batch then.
func (vs *viewState) aggApply(behind bool) redisview.AggApply {
	g := redisview.AggApply{View: vs.view, From: vs.from, To: vs.tail, ToTime: vs.tailTime, ToClock: vs.tailClock, ToSeg: vs.tailSeg, Deltas: vs.segs}
	if !behind {
		g.Known = vs.known
	}
	return g
}

func (vs *viewState) mirrorApply() redisview.MirrorApply {
	fp := vs.lastFP
	if fp == "" {
		fp = vs.fingerprint // nothing bound yet: a checkpoint-only batch
	}
	return redisview.MirrorApply{View: vs.view.Name, Layout: fp, From: vs.from, To: vs.tail, ToTime: vs.tailTime, ToClock: vs.tailClock, Rows: vs.changes}
}
