package changelog

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"iter"

	"github.com/klauspost/compress/zstd"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// ErrNotSealed is returned for a range whose last segment is not sealed.
var ErrNotSealed = errors.New("changelog segment not sealed")

// ErrGap is returned when the manifests of a range do not chain: a segment
// is missing or the archive was rewritten.
var ErrGap = errors.New("changelog gap")

// Reader reads one source's archive.
type Reader struct {
	store  lake.Store
	source string
}

// NewReader returns a Reader of source's archive in store.
func NewReader(store lake.Store, source string) *Reader {
	return &Reader{store: store, source: source}
}

// Last returns the last sealed segment's manifest, or nil when the archive
// is empty.
func (r *Reader) Last(ctx context.Context) (*Manifest, error) {
	m, err := lastSealed(ctx, r.store, r.source)
	if err != nil {
		return nil, fmt.Errorf("reading last sealed segment of %s: %w", r.source, err)
	}
	return m, nil
}

// Manifests returns the manifests of the sealed segments in
// (afterSeg, uptoSeg], ascending, after checking that they chain to each
// other and to afterSeg (0: the start of the archive) without a gap. When
// uptoSeg is not ^uint64(0) it must be sealed (ErrNotSealed otherwise).
func (r *Reader) Manifests(ctx context.Context, afterSeg, uptoSeg uint64) ([]*Manifest, error) {
	if uptoSeg <= afterSeg {
		return nil, nil
	}
	segs, err := listSegments(ctx, r.store, r.source, afterSeg+1, uptoSeg)
	if err != nil {
		return nil, err
	}
	if uptoSeg != ^uint64(0) && (len(segs) == 0 || segs[len(segs)-1] != uptoSeg) {
		return nil, fmt.Errorf("reading %s segments (%d, %d]: segment %d: %w", r.source, afterSeg, uptoSeg, uptoSeg, ErrNotSealed)
	}
	ms := make([]*Manifest, 0, len(segs))
	prevSeg, prevLast := afterSeg, ""
	for i, seg := range segs {
		m, err := readManifest(ctx, r.store, r.source, seg)
		if err != nil {
			return nil, err
		}
		if m.PrevSegment != prevSeg || (i > 0 && m.PrevLast != prevLast) {
			return nil, fmt.Errorf("reading %s segments (%d, %d]: segment %d follows segment %d ending at %q, but the archive has %d ending at %q before it: %w",
				r.source, afterSeg, uptoSeg, seg, m.PrevSegment, m.PrevLast, prevSeg, prevLast, ErrGap)
		}
		prevSeg, prevLast = m.Segment, m.Last
		ms = append(ms, m)
	}
	return ms, nil
}

// ReadSegments yields, in commit order, every transaction of the sealed
// segments in (afterSeg, uptoSeg] (see Manifests). Each segment's data is
// checked against its manifest (size, SHA-256, counts, first and last
// positions); a mismatch ends the sequence with an error. The yielded
// transactions are the caller's.
func (r *Reader) ReadSegments(ctx context.Context, afterSeg, uptoSeg uint64) iter.Seq2[*formats.Txn, error] {
	return func(yield func(*formats.Txn, error) bool) {
		ms, err := r.Manifests(ctx, afterSeg, uptoSeg)
		if err != nil {
			yield(nil, err)
			return
		}
		for _, m := range ms {
			if m.Gap != nil {
				yield(nil, fmt.Errorf("reading %s segment %d: changes in (%s, %s] are missing (%s): %w",
					r.source, m.Segment, m.Gap.After, m.Gap.Until, m.Gap.Reason, ErrIncomplete))
				return
			}
			if !r.readSegment(ctx, m, yield) {
				return
			}
		}
	}
}

// readSegment yields m's transactions; false when the caller stopped or an
// error was yielded.
func (r *Reader) readSegment(ctx context.Context, m *Manifest, yield func(*formats.Txn, error) bool) bool {
	fail := func(err error) bool {
		yield(nil, fmt.Errorf("reading %s segment %d (%s): %w", r.source, m.Segment, m.Object, err))
		return false
	}
	rc, err := r.store.Get(ctx, m.Object)
	if err != nil {
		return fail(err)
	}
	defer rc.Close()
	sum := sha256.New()
	var n counter
	zr, err := zstd.NewReader(io.TeeReader(rc, io.MultiWriter(sum, &n)), zstd.WithDecoderConcurrency(1))
	if err != nil {
		return fail(err)
	}
	defer zr.Close()
	br := bufio.NewReaderSize(zr, 1<<20)
	d := newDecoder()
	var (
		txn          *formats.Txn
		want         int
		txns, events int64
		first, last  string
	)
	for {
		line, err := br.ReadBytes('\n')
		if err == io.EOF && len(line) == 0 {
			break
		}
		if err != nil && err != io.EOF {
			return fail(err)
		}
		switch lineKind(line) {
		case "schema":
			err = d.schema(line)
		case "txn":
			if txn != nil {
				return fail(fmt.Errorf("txn %s has %d of its %d events", txn.Pos, len(txn.Events), want))
			}
			txn, want, err = d.txn(line)
		case "event":
			if txn == nil {
				return fail(errors.New("event line outside a transaction"))
			}
			err = d.event(line, txn)
		default:
			err = fmt.Errorf("unknown line %.80q", line)
		}
		if err != nil {
			return fail(err)
		}
		if txn != nil && len(txn.Events) == want {
			if txns == 0 {
				first = txn.Pos.String()
			}
			last = txn.Pos.String()
			txns++
			events += int64(want)
			t := txn
			txn = nil
			if !yield(t, nil) {
				return false
			}
		}
	}
	if txn != nil {
		return fail(fmt.Errorf("data ends inside txn %s", txn.Pos))
	}
	if _, err := io.Copy(io.Discard, rc); err != nil { // hash every byte stored
		return fail(err)
	}
	switch {
	case int64(n) != m.Bytes || hex.EncodeToString(sum.Sum(nil)) != m.SHA256:
		return fail(fmt.Errorf("data object has %d bytes with SHA-256 %x; the manifest says %d bytes, %s",
			n, sum.Sum(nil), m.Bytes, m.SHA256))
	case txns != m.Txns || events != m.Events || first != m.First || last != m.Last:
		return fail(fmt.Errorf("data has %d txns, %d events from %s to %s; the manifest says %d, %d from %s to %s",
			txns, events, first, last, m.Txns, m.Events, m.First, m.Last))
	}
	return true
}
