package redisview

import (
	"context"
	"fmt"
	"iter"
	"strconv"
	"sync"
	"time"

	"github.com/tidemark/tidemark/formats"
)

// The encoded layer: aggregate states as the token strings Redis stores
// (see the package documentation) and group keys as hash field names. The
// typed methods in agg.go encode formats values into it.

// encodedSeg is one segment's deltas: group key field → encoded state.
type encodedSeg struct {
	seg    uint64
	fields []string // field, state, field, state, ... (see encodedApply.cas)
}

// encodedApply is one ApplyAgg call, encoded.
type encodedApply struct {
	view     string
	layout   string
	from, to formats.Position
	toSeg    uint64
	toTime   formats.Stamp
	segs     []encodedSeg
	// cas, when set, makes each segment's fields entries of six: field,
	// state, then per hash (segment, running total) the value expected
	// and the sum (see Known and luaApplyAgg); the script's answer goes to
	// cas.learn.
	cas *casBatch
}

func (s *Store) applyAggCall(a encodedApply) (scriptCall, error) {
	k, err := s.keys(a.view)
	if err != nil {
		return scriptCall{}, err
	}
	width := 2
	if a.cas != nil {
		width = 6
	}
	n := 8
	for _, sg := range a.segs {
		n += 2 + len(sg.fields)
	}
	args := make([]any, 0, n)
	args = append(args, k.base, a.from.String(), a.to.String(), strconv.FormatUint(a.toSeg, 10), a.layout, len(a.segs), width)
	for _, sg := range a.segs {
		if len(sg.fields)%width != 0 {
			return scriptCall{}, fmt.Errorf("segment %d: field list of %d is not in entries of %d", sg.seg, len(sg.fields), width)
		}
		args = append(args, strconv.FormatUint(sg.seg, 10), len(sg.fields)/width)
		for _, f := range sg.fields {
			args = append(args, f)
		}
	}
	args = append(args, a.toTime.String()) // ckpt_time: the script reads the last argument
	c := scriptCall{script: s.scripts.applyAgg, keys: []string{k.meta()}, args: args}
	if a.cas != nil {
		c.reply = func(v any) { a.cas.learn(a.segs, v) }
	}
	return c, nil
}

// applyEncoded applies encoded aggregate batches; see applyAllEncoded.
func (s *Store) applyEncoded(ctx context.Context, as []encodedApply) []error {
	return s.applyAllEncoded(ctx, as, nil)
}

// applyAllEncoded runs one script call per batch, all in one pipeline, and
// returns one error per batch (aggregates first), mapped to the package's
// sentinels. A mirror batch of Options.MirrorTxRows rows or more is a
// transaction of its own instead (applyMirrorTx), on its own connection,
// run beside the pipeline.
func (s *Store) applyAllEncoded(ctx context.Context, aggs []encodedApply, mirrors []MirrorApply) []error {
	errs := make([]error, len(aggs)+len(mirrors))
	calls := make([]scriptCall, 0, len(errs))
	idx := make([]int, 0, len(errs))
	var wg sync.WaitGroup
	for j, b := range mirrors {
		if s.txRows <= 0 || len(b.Rows) < s.txRows {
			continue
		}
		wg.Go(func() {
			if err := s.applyMirrorTx(ctx, b); err != nil {
				errs[len(aggs)+j] = fmt.Errorf("applying mirror %s up to %s: %w", b.View, b.To, err)
			}
		})
	}
	for i, a := range aggs {
		c, err := s.applyAggCall(a)
		if err != nil {
			errs[i] = fmt.Errorf("applying view %s up to %s: %w", a.view, a.to, err)
			continue
		}
		calls = append(calls, c)
		idx = append(idx, i)
	}
	for j, b := range mirrors {
		if s.txRows > 0 && len(b.Rows) >= s.txRows {
			continue // applyMirrorTx
		}
		c, err := s.applyMirrorCall(b)
		if err != nil {
			errs[len(aggs)+j] = fmt.Errorf("applying mirror %s up to %s: %w", b.View, b.To, err)
			continue
		}
		calls = append(calls, c)
		idx = append(idx, len(aggs)+j)
	}
	var cerrs []error
	if len(calls) > 0 {
		cerrs = s.runApplies(ctx, calls)
	}
	for j, err := range cerrs {
		if err == nil {
			continue
		}
		i := idx[j]
		if i < len(aggs) {
			a := aggs[i]
			errs[i] = fmt.Errorf("applying view %s up to %s: %w", a.view, a.to, scriptError(a.view, a.from, err))
		} else {
			b := mirrors[i-len(aggs)]
			errs[i] = fmt.Errorf("applying mirror %s up to %s: %w", b.View, b.To, scriptError(b.View, b.From, err))
		}
	}
	wg.Wait()
	return errs
}

// encodedSnapshot is a view's merged answer, encoded.
type encodedSnapshot struct {
	meta   Meta
	groups map[string]string // group key field → merged state with count > 0
}

func (s *Store) readAggEncoded(ctx context.Context, view string) (encodedSnapshot, error) {
	k, err := s.keys(view)
	if err != nil {
		return encodedSnapshot{}, err
	}
	v, err := s.runScript(ctx, s.scripts.readAgg, k.meta(), k.base)
	if err != nil {
		return encodedSnapshot{}, fmt.Errorf("reading view %s: %w", view, scriptError(view, formats.Position{}, err))
	}
	reply, ok := v.([]any)
	if !ok || len(reply) != 10 {
		return encodedSnapshot{}, fmt.Errorf("reading view %s: unexpected reply %T", view, v)
	}
	meta, err := parseMeta(append(reply[:7:7], reply[9]))
	if err != nil {
		return encodedSnapshot{}, fmt.Errorf("reading view %s: %w", view, err)
	}
	batch, _ := reply[7].([]any)
	speed, _ := reply[8].([]any)
	groups := make(map[string]string, len(batch)/2+len(speed)/2)
	for i := 0; i+1 < len(batch); i += 2 {
		f, _ := batch[i].(string)
		st, _ := batch[i+1].(string)
		groups[f] = st
	}
	for i := 0; i+1 < len(speed); i += 2 {
		f, _ := speed[i].(string)
		st, _ := speed[i+1].(string)
		if cur, ok := groups[f]; ok {
			sum, _, err := addStates(tokenLayout(meta.Fingerprint), cur, st)
			if err != nil {
				return encodedSnapshot{}, fmt.Errorf("reading view %s: group %q: %w", view, f, err)
			}
			st = sum
		}
		groups[f] = st
	}
	for f, st := range groups {
		if !positiveCount(st) {
			delete(groups, f)
		}
	}
	return encodedSnapshot{meta: meta, groups: groups}, nil
}

// loadEncoded writes generation gen's batch hash of view from fields
// (group key field → state), in pipelined chunks. The hash is invisible to
// readers until the generation is published. An existing hash of the same
// generation (a failed earlier load) is replaced.
func (s *Store) loadEncoded(ctx context.Context, view string, gen uint64, fields iter.Seq2[string, string], key func(viewKeys, uint64) string) error {
	return s.loadEncodedFenced(ctx, nil, view, gen, fields, key)
}

// loadEncodedFenced is loadEncoded with fence f (nil: unfenced) checked in
// the load's first step and in each chunk's (FencedStore).
func (s *Store) loadEncodedFenced(ctx context.Context, f *WriteFence, view string, gen uint64, fields iter.Seq2[string, string],
	key func(viewKeys, uint64) string) error {
	k, err := s.keys(view)
	if err != nil {
		return err
	}
	if m, err := s.Meta(ctx, view); err == nil && m.Published && m.Generation >= gen {
		return fmt.Errorf("loading generation %d of view %s: %w: generation %d is published", gen, view, ErrStaleGeneration, m.Generation)
	}
	dst := key(k, gen)
	if f != nil {
		if err := s.loadStartFenced(ctx, f, k, dst, gen); err != nil {
			return fmt.Errorf("loading generation %d of view %s: %w", gen, view, err)
		}
	} else {
		if err := s.rdb.Del(ctx, dst).Err(); err != nil {
			return fmt.Errorf("loading generation %d of view %s: %w", gen, view, classify(err))
		}
		// Register the generation before writing it, so that a load that dies
		// halfway leaves a hash a later publish knows to delete.
		if err := s.rdb.ZAdd(ctx, k.gens(), redisZ(gen)).Err(); err != nil {
			return fmt.Errorf("loading generation %d of view %s: %w", gen, view, classify(err))
		}
	}
	const chunksPerPipe = 16
	pipe := s.rdb.Pipeline()
	chunk := make([]any, 0, 2*s.chunk)
	queued := 0
	flushChunk := func() {
		if len(chunk) > 0 {
			if f != nil {
				// Eval, not EvalSha: a pipeline cannot load a script
				// Redis lost halfway; the text is small beside a chunk.
				s.scripts.loadChunk.Eval(ctx, pipe, []string{k.meta(), dst}, append(fenceArgs(f), chunk...)...)
			} else {
				pipe.HSet(ctx, dst, chunk...)
			}
			chunk = make([]any, 0, 2*s.chunk)
			queued++
		}
	}
	exec := func() error {
		if queued == 0 {
			return nil
		}
		queued = 0
		_, err := pipe.Exec(ctx)
		if err != nil && f != nil {
			return scriptError(view, formats.Position{}, err)
		}
		return classify(err)
	}
	for f, st := range fields {
		chunk = append(chunk, f, st)
		if len(chunk) >= 2*s.chunk {
			flushChunk()
			if queued >= chunksPerPipe {
				if err := exec(); err != nil {
					return fmt.Errorf("loading generation %d of view %s: %w", gen, view, err)
				}
			}
		}
	}
	flushChunk()
	if err := exec(); err != nil {
		return fmt.Errorf("loading generation %d of view %s: %w", gen, view, err)
	}
	return nil
}

func (s *Store) publishAggEncoded(ctx context.Context, view, layout string, gen uint64, cut formats.Position, cutSeg uint64, cutTime time.Time) error {
	return s.publishAggFenced(ctx, nil, view, layout, gen, cut, cutSeg, cutTime)
}

func (s *Store) publishAggFenced(ctx context.Context, f *WriteFence, view, layout string, gen uint64, cut formats.Position, cutSeg uint64,
	cutTime time.Time) error {
	k, err := s.keys(view)
	if err != nil {
		return err
	}
	args := append([]any{k.base, strconv.FormatUint(gen, 10), cut.String(),
		strconv.FormatUint(cutSeg, 10), cutTime.UTC().Format(time.RFC3339Nano), layout}, fenceArgs(f)...)
	_, err = s.runScript(ctx, s.scripts.publishAgg, k.meta(), args...)
	if err != nil {
		return fmt.Errorf("publishing generation %d of view %s at %s: %w", gen, view, cut, scriptError(view, formats.Position{}, err))
	}
	return nil
}
