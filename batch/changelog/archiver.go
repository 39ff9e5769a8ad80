package changelog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// Options configure an Archiver.
type Options struct {
	// Source names the archive: its objects live under changelog/<Source>/.
	Source string
	// SegmentSeconds is the segment width of the segment rule (see the
	// package doc); it must equal the speed layer's. 0 means 10.
	SegmentSeconds int64
	// Start is the first boundary of an empty archive, the bootstrap
	// snapshot's position: transactions at or before it are not archived.
	// Once a segment is sealed, the archive's own checkpoint takes over.
	Start formats.Position
	// Logger receives one line per sealed segment; nil discards.
	Logger *slog.Logger
	// Metrics, if not nil, is told of sealed segments and lake errors.
	Metrics Metrics
}

// Metrics receives the archive's health signals. Declared here,
// implemented by the caller (realtime.Metrics in cmd/tidemark).
type Metrics interface {
	// SegmentSealed is called with the last sealed segment and the commit
	// time of its last transaction: at each seal, and when Checkpoint
	// reads it.
	SegmentSealed(segment uint64, lastCommit time.Time)
	// LakeError counts one failed lake operation by kind (LakeErrorKind).
	LakeError(kind string)
}

// Archiver writes the change stream to the lake as sealed segments.
type Archiver struct {
	store lake.Store
	opts  Options
	log   *slog.Logger
}

// NewArchiver returns an Archiver of o.Source's stream into store.
func NewArchiver(store lake.Store, o Options) (*Archiver, error) {
	if o.Source == "" {
		return nil, errors.New("changelog archiver: empty source name")
	}
	if err := checkSourceName(o.Source); err != nil {
		return nil, err
	}
	if o.SegmentSeconds < 0 {
		return nil, fmt.Errorf("changelog archiver: segment seconds %d < 0", o.SegmentSeconds)
	}
	if o.SegmentSeconds == 0 {
		o.SegmentSeconds = 10
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Archiver{store: store, opts: o, log: log.With("source", o.Source)}, nil
}

func checkSourceName(s string) error {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("changelog source name %q: use letters, digits, _ and -", s)
		}
	}
	return nil
}

// SegmentOf is the segment rule: the segment of a transaction committed at
// commit, when the previous transaction's segment is prev.
func SegmentOf(prev uint64, commit time.Time, segmentSeconds int64) uint64 {
	s := commit.Unix()
	if s < 0 {
		s = 0
	}
	return max(prev, uint64(s/segmentSeconds))
}

// Checkpoint returns the last position of the last sealed segment and that
// segment's id: where the capture must resume so that Run archives every
// change exactly once. An empty archive returns Options.Start and 0.
func (a *Archiver) Checkpoint(ctx context.Context) (formats.Position, uint64, error) {
	pos, m, err := a.checkpoint(ctx)
	if m == nil {
		return pos, 0, err
	}
	return pos, m.Segment, err
}

// checkpoint is Checkpoint with the last sealed manifest (nil: none).
func (a *Archiver) checkpoint(ctx context.Context) (formats.Position, *Manifest, error) {
	m, err := lastSealed(ctx, a.store, a.opts.Source)
	if err != nil {
		a.lakeError(err)
		return formats.Position{}, nil, fmt.Errorf("reading changelog checkpoint of %s: %w", a.opts.Source, err)
	}
	if m == nil {
		return a.opts.Start, nil, nil
	}
	pos, err := m.LastPosition()
	if err != nil {
		return formats.Position{}, nil, fmt.Errorf("reading changelog checkpoint of %s: %w", a.opts.Source, err)
	}
	if a.opts.Metrics != nil {
		a.opts.Metrics.SegmentSealed(m.Segment, m.LastCommit)
	}
	return pos, m, nil
}

// lakeError counts err by kind, if it is a lake error.
func (a *Archiver) lakeError(err error) {
	if k := LakeErrorKind(err); k != "" && a.opts.Metrics != nil {
		a.opts.Metrics.LakeError(k)
	}
}

// Run archives the transactions from in until in is closed (it returns nil)
// or ctx is done (it returns ctx's error). Transactions must arrive in
// commit order; those at or before the checkpoint are skipped, so in may
// replay from an earlier position. Each segment is sealed when the first
// transaction of a later one arrives, or a tick of a later one
// (formats.Txn.IsTick: an idle source); ticks are not archived, but for the
// first segment of an empty archive (a quiet source gets a boundary). The open
// segment at return is discarded, to be rebuilt from the replayed stream
// by the next Run.
func (a *Archiver) Run(ctx context.Context, in <-chan *formats.Txn) error {
	ckpt, last, err := a.checkpoint(ctx)
	if err != nil {
		return err
	}
	var lastSeg, floor uint64
	if last != nil {
		// A sealed segment is never written again: the next one is later,
		// and at least the one whose arrival sealed it.
		lastSeg, floor = last.Segment, max(last.Segment+1, last.NextSegment)
	}
	a.log.Info("changelog archiver starting", "after_segment", lastSeg, "after", ckpt.String())
	var open *segment
	defer func() {
		if open != nil {
			open.abort()
		}
	}()
	prevSeg, prevLast, prev := lastSeg, ckpt.String(), ckpt
	for {
		var t *formats.Txn
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case t, ok = <-in:
		}
		if !ok {
			return nil
		}
		if t.Pos.Compare(ckpt) <= 0 {
			continue // archived before: the stream replays from an earlier position
		}
		if t.Pos.Compare(prev) <= 0 {
			return fmt.Errorf("archiving %s: transaction at %s arrived after %s: the stream is out of order", a.opts.Source, t.Pos, prev)
		}
		cur := max(prevSeg, floor)
		if open != nil {
			cur = open.m.Segment
		}
		seg := SegmentOf(cur, t.CommitTime, a.opts.SegmentSeconds)
		if open != nil && seg > open.m.Segment {
			s := open
			open = nil
			s.m.NextSegment = seg
			if err := a.seal(ctx, s); err != nil {
				return err
			}
			prevSeg, prevLast = s.m.Segment, s.m.Last
		}
		// Ticks are not archived, except in an archive that has no segment
		// at all: a quiet source must still get a first boundary, at or
		// after the archive's start, for a rebuild to cut at.
		if t.IsTick() && (open != nil || last != nil || prevSeg != 0) {
			floor = max(floor, seg) // a later segment has begun, without a transaction yet
			prev = t.Pos
			continue
		}
		if open == nil {
			open = a.openSegment(ctx, seg, prevSeg, prevLast)
		}
		if err := open.add(t); err != nil {
			a.lakeError(err)
			return fmt.Errorf("archiving %s segment %d: %w", a.opts.Source, open.m.Segment, err)
		}
		prev = t.Pos
	}
}

// segment is the open segment: its data object streams to the lake.
type segment struct {
	m     Manifest
	enc   *encoder
	zw    *zstd.Encoder
	pw    *io.PipeWriter
	sum   hash.Hash
	count int64
	done  chan error
}

func (a *Archiver) openSegment(ctx context.Context, seg, prevSeg uint64, prevLast string) *segment {
	s := &segment{
		m: Manifest{
			Version: manifestVersion, Source: a.opts.Source, Segment: seg,
			PrevSegment: prevSeg, PrevLast: prevLast, Tables: map[string]*TableCounts{},
			Object: dataKey(a.opts.Source, seg),
		},
		enc:  newEncoder(),
		sum:  sha256.New(),
		done: make(chan error, 1),
	}
	pr, pw := io.Pipe()
	s.pw = pw
	// Deterministic output (one encoder goroutine, fixed level): a segment
	// sealed again after a crash is byte-identical to the first attempt.
	s.zw, _ = zstd.NewWriter(io.MultiWriter(s.sum, (*counter)(&s.count), pw),
		zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	go func() {
		err := a.store.Put(ctx, s.m.Object, pr)
		pr.CloseWithError(err)
		s.done <- err
	}()
	return s
}

func (s *segment) add(t *formats.Txn) error {
	s.enc.buf = s.enc.buf[:0]
	if err := s.enc.appendTxn(t); err != nil {
		return err
	}
	if _, err := s.zw.Write(s.enc.buf); err != nil {
		return fmt.Errorf("writing data object: %w", err)
	}
	if s.m.Txns == 0 {
		s.m.First, s.m.FirstGTID, s.m.FirstCommit = t.Pos.String(), t.Pos.GTID, t.CommitTime.UTC()
	}
	s.m.Last, s.m.LastGTID, s.m.LastCommit = t.Pos.String(), t.Pos.GTID, t.CommitTime.UTC()
	s.m.Txns++
	s.m.Events += int64(len(t.Events))
	for i := range t.Events {
		ev := &t.Events[i]
		c := s.m.Tables[ev.Table.String()]
		if c == nil {
			c = &TableCounts{}
			s.m.Tables[ev.Table.String()] = c
		}
		switch ev.Op {
		case formats.OpInsert:
			c.Inserts++
		case formats.OpUpdate:
			c.Updates++
		case formats.OpDelete:
			c.Deletes++
		}
	}
	return nil
}

// seal completes the data object, then writes the manifest and the
// _latest hint, in that order.
func (a *Archiver) seal(ctx context.Context, s *segment) error {
	if err := s.zw.Close(); err != nil {
		s.abort()
		a.lakeError(err)
		return fmt.Errorf("sealing %s segment %d: %w", a.opts.Source, s.m.Segment, err)
	}
	s.pw.Close()
	if err := <-s.done; err != nil {
		a.lakeError(err)
		return fmt.Errorf("sealing %s segment %d: storing data: %w", a.opts.Source, s.m.Segment, err)
	}
	s.m.Bytes = s.count
	s.m.SHA256 = hex.EncodeToString(s.sum.Sum(nil))
	s.m.SealedAt = time.Now().UTC()
	if err := putJSON(ctx, a.store, manifestKey(a.opts.Source, s.m.Segment), &s.m); err != nil {
		a.lakeError(err)
		return fmt.Errorf("sealing %s segment %d: writing manifest: %w", a.opts.Source, s.m.Segment, err)
	}
	if err := putJSON(ctx, a.store, latestKey(a.opts.Source), latestHint{Segment: s.m.Segment}); err != nil {
		a.lakeError(err)
		return fmt.Errorf("sealing %s segment %d: writing %s: %w", a.opts.Source, s.m.Segment, latestKey(a.opts.Source), err)
	}
	if a.opts.Metrics != nil {
		a.opts.Metrics.SegmentSealed(s.m.Segment, s.m.LastCommit)
	}
	a.log.Info("changelog segment sealed", "segment", s.m.Segment, "txns", s.m.Txns, "events", s.m.Events,
		"bytes", s.m.Bytes, "first", s.m.First, "last", s.m.Last)
	return nil
}

// abort stops the data object's upload; nothing of it becomes visible
// under its key (lake.Store.Put is atomic).
func (s *segment) abort() {
	s.pw.CloseWithError(errDiscarded)
	<-s.done
}

var errDiscarded = errors.New("open changelog segment discarded")

type counter int64

func (c *counter) Write(p []byte) (int, error) { *c += counter(len(p)); return len(p), nil }
