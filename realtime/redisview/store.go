package redisview

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
)

// Errors a caller decides on with errors.Is.
var (
	// ErrStateMissing: the view has no state in Redis (never bootstrapped,
	// reset, or Redis restarted empty). The caller re-bootstraps the view:
	// Reset, LoadBatch and PublishAgg (or the mirror equivalents) at a
	// snapshot position, then applies the stream from there.
	ErrStateMissing = errors.New("view state missing in Redis")
	// ErrFenced: the view's checkpoint in Redis is not where the writer
	// believes it is: another writer moved it, a publish moved it past a
	// lagging writer, or Redis lost writes. FenceError says where it is.
	ErrFenced = errors.New("view checkpoint fenced")
	// ErrLayoutMismatch: the state in Redis was written for another view
	// definition (its fingerprint differs: the token layout or the
	// definition changed). Reset and re-bootstrap the view.
	ErrLayoutMismatch = errors.New("view state layout mismatch")
	// ErrStaleGeneration: a publish named a generation or cut that is not
	// newer than the published one.
	ErrStaleGeneration = errors.New("stale generation")
)

// FenceError is the ErrFenced error: the checkpoint Redis holds for View is
// Have, where the writer expected From.
type FenceError struct {
	View string
	From formats.Position // what the writer expected
	Have formats.Position // what Redis holds
}

func (e *FenceError) Error() string {
	return fmt.Sprintf("view %s: checkpoint in Redis is %s, writer expected %s", e.View, e.Have, e.From)
}

// Is makes errors.Is(err, ErrFenced) hold.
func (e *FenceError) Is(target error) bool { return target == ErrFenced }

// Options configures a Store. The zero value is valid.
type Options struct {
	// Prefix starts every key; "" means "tm". Keys are
	// "<prefix>:{<view>}:<name>".
	Prefix string
	// LoadChunk is the number of hash fields written per HSET by the batch
	// loaders; 0 means 1000.
	LoadChunk int
	// MirrorTxRows is the number of rows from which a mirror batch is
	// applied as a WATCH/MULTI/EXEC transaction instead of by its Lua
	// script (see ApplyAll); 0 means 512, negative means never. Both write
	// the same state with the same checks.
	MirrorTxRows int
}

// Store is the Redis speed/serving store of Tidemark's views. It holds no
// connection state of its own beyond the client it was given and is safe for
// concurrent use; the client's lifetime is the caller's.
type Store struct {
	rdb     redis.UniversalClient
	prefix  string
	chunk   int
	txRows  int // Options.MirrorTxRows, resolved; 0: never
	scripts scripts
	reads   readScripts // read.go
	// fps caches Fingerprint per bound *formats.View (see fingerprint);
	// a handful of entries: one per view definition parsed.
	fps sync.Map
	// viewKeys caches keys per view name: one entry per view, up to
	// nviewKeys entries.
	viewKeys  sync.Map
	nviewKeys atomic.Int64
}

// New returns a Store on rdb, a single Redis client or a Cluster client.
func New(rdb redis.UniversalClient, opts Options) *Store {
	s := &Store{rdb: rdb, prefix: opts.Prefix, chunk: opts.LoadChunk, scripts: newScripts(), reads: newReadScripts()}
	if s.prefix == "" {
		s.prefix = "tm"
	}
	if s.chunk <= 0 {
		s.chunk = 1000
	}
	switch {
	case opts.MirrorTxRows == 0:
		s.txRows = 512
	case opts.MirrorTxRows > 0:
		s.txRows = opts.MirrorTxRows
	}
	return s
}

// viewKeys are one view's key names. All of them share the hash tag {view}.
type viewKeys struct {
	view string
	base string // "tm:{view}:"
}

func (s *Store) keys(view string) (viewKeys, error) {
	if k, ok := s.viewKeys.Load(view); ok {
		return k.(viewKeys), nil
	}
	if view == "" || strings.ContainsAny(view, "{}") {
		return viewKeys{}, fmt.Errorf("view name %q: must be non-empty and contain no braces (they delimit the Redis hash tag)", view)
	}
	k := viewKeys{view: view, base: s.prefix + ":{" + view + "}:"}
	if s.nviewKeys.Add(1) <= 4096 { // names come from configs: few
		s.viewKeys.Store(view, k)
	}
	return k, nil
}

func (k viewKeys) meta() string                { return k.base + "meta" }
func (k viewKeys) speed() string               { return k.base + "speed" }
func (k viewKeys) segs() string                { return k.base + "segs" }
func (k viewKeys) gens() string                { return k.base + "gens" }
func (k viewKeys) seg(id uint64) string        { return k.base + "s:" + strconv.FormatUint(id, 10) }
func (k viewKeys) batch(gen uint64) string     { return k.base + "b:" + strconv.FormatUint(gen, 10) }
func (k viewKeys) rows() string                { return k.base + "rows" }
func (k viewKeys) mirrorBatch(g uint64) string { return k.base + "mb:" + strconv.FormatUint(g, 10) }

// Meta is a view's bookkeeping in Redis.
type Meta struct {
	// Checkpoint is the commit position of the last transaction applied to
	// the view (or the published cut, if the speed layer was behind it).
	Checkpoint formats.Position
	// Segment is the segment id of Checkpoint (aggregate views).
	Segment uint64
	// Published reports whether a generation was ever published; the
	// generation fields are zero otherwise.
	Published  bool
	Generation uint64
	Cut        formats.Position
	CutSegment uint64
	CutTime    time.Time
	// Fingerprint identifies the view definition the state was written
	// for (see Fingerprint); writes for another definition are refused.
	Fingerprint string
	// CheckpointTime is the source commit time of the transaction at
	// Checkpoint (the cut time when a publish moved the checkpoint); zero
	// when unknown. CheckpointClock says how it was measured (see
	// formats.Clock): ckpt_time holds both (formats.Stamp's stored form).
	CheckpointTime  time.Time
	CheckpointClock formats.Clock
}

// Meta returns the view's bookkeeping, or ErrStateMissing.
func (s *Store) Meta(ctx context.Context, view string) (Meta, error) {
	k, err := s.keys(view)
	if err != nil {
		return Meta{}, err
	}
	vals, err := s.rdb.HMGet(ctx, k.meta(), "ckpt", "seg", "gen", "cut", "cut_seg", "cut_time", "layout", "ckpt_time").Result()
	if err != nil {
		return Meta{}, fmt.Errorf("reading meta of view %s: %w", view, classify(err))
	}
	strs := make([]any, len(vals))
	for i, v := range vals {
		if v == nil {
			strs[i] = false
		} else {
			strs[i] = v
		}
	}
	m, err := parseMeta(strs)
	if err != nil {
		return Meta{}, fmt.Errorf("reading meta of view %s: %w", view, err)
	}
	return m, nil
}

// parseMeta reads the reply fields {ckpt, seg, gen, cut, cut_seg, cut_time,
// layout, ckpt_time}; a missing field is false or nil (Lua turns nil bulk replies into
// false and back into nil).
func parseMeta(f []any) (Meta, error) {
	str := func(i int) (string, bool) {
		if i >= len(f) {
			return "", false
		}
		s, ok := f[i].(string)
		return s, ok
	}
	var m Meta
	ck, ok := str(0)
	if !ok {
		return Meta{}, ErrStateMissing
	}
	var err error
	if m.Checkpoint, err = formats.ParsePosition(ck); err != nil {
		return Meta{}, fmt.Errorf("checkpoint: %w", err)
	}
	if v, ok := str(1); ok {
		if m.Segment, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Meta{}, fmt.Errorf("segment: %w", err)
		}
	}
	if v, ok := str(2); ok {
		m.Published = true
		if m.Generation, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Meta{}, fmt.Errorf("generation: %w", err)
		}
	}
	if v, ok := str(3); ok {
		if m.Cut, err = formats.ParsePosition(v); err != nil {
			return Meta{}, fmt.Errorf("cut: %w", err)
		}
	}
	if v, ok := str(4); ok {
		if m.CutSegment, err = strconv.ParseUint(v, 10, 64); err != nil {
			return Meta{}, fmt.Errorf("cut segment: %w", err)
		}
	}
	if v, ok := str(5); ok && v != "" {
		if m.CutTime, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return Meta{}, fmt.Errorf("cut time: %w", err)
		}
	}
	m.Fingerprint, _ = str(6)
	if v, ok := str(7); ok && v != "" {
		st, err := formats.ParseStamp(v)
		if err != nil {
			return Meta{}, fmt.Errorf("checkpoint time: %w", err)
		}
		m.CheckpointTime, m.CheckpointClock = st.Time, st.Clock
	}
	return m, nil
}

// Reset deletes every key of the view, for a re-bootstrap. It is not atomic
// for readers (they may see ErrStateMissing or a partial view while it runs)
// and must not run beside a writer of the same view.
func (s *Store) Reset(ctx context.Context, view string) error {
	k, err := s.keys(view)
	if err != nil {
		return err
	}
	// Delete meta first: from then on writers and readers get
	// ErrStateMissing instead of a half-deleted view.
	if err := s.rdb.Del(ctx, k.meta()).Err(); err != nil {
		return fmt.Errorf("resetting view %s: %w", view, classify(err))
	}
	var del []string
	for _, set := range []struct {
		key  string
		name func(uint64) string
	}{{k.segs(), k.seg}, {k.gens(), k.batch}, {k.gens(), k.mirrorBatch}} {
		ids, err := s.rdb.ZRange(ctx, set.key, 0, -1).Result()
		if err != nil {
			return fmt.Errorf("resetting view %s: %w", view, classify(err))
		}
		for _, id := range ids {
			n, err := strconv.ParseUint(id, 10, 64)
			if err != nil {
				return fmt.Errorf("resetting view %s: member %q of %s: %w", view, id, set.key, err)
			}
			del = append(del, set.name(n))
		}
	}
	del = append(del, k.speed(), k.rows(), k.segs(), k.gens())
	// One key per DEL: on a Cluster a multi-key DEL must stay in one slot,
	// which these do, but go-redis routes by first key anyway.
	pipe := s.rdb.Pipeline()
	for _, key := range del {
		pipe.Del(ctx, key)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("resetting view %s: %w", view, classify(err))
	}
	return nil
}

// scriptError maps a script's error reply to the package's sentinels.
func scriptError(view string, from formats.Position, err error) error {
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return classify(err)
	}
	msg := rerr.Error()
	code, rest, _ := strings.Cut(msg, " ")
	switch code {
	case "TMMISSING":
		return fmt.Errorf("view %s: %w", view, ErrStateMissing)
	case "TMFENCED":
		have, perr := formats.ParsePosition(rest)
		if perr != nil {
			return fmt.Errorf("view %s: %w: checkpoint %q", view, ErrFenced, rest)
		}
		return &FenceError{View: view, From: from, Have: have}
	case "TMLAYOUT":
		return fmt.Errorf("view %s: %w: %s", view, ErrLayoutMismatch, rest)
	case "TMSTALE":
		return fmt.Errorf("view %s: %w: %s", view, ErrStaleGeneration, rest)
	case "TMTOKEN":
		return tokenError(view, rest)
	}
	return classify(err)
}

// runScript runs one script, loading it when Redis does not have it cached.
func (s *Store) runScript(ctx context.Context, sc *redis.Script, key string, args ...any) (any, error) {
	v, err := sc.Run(ctx, s.rdb, []string{key}, args...).Result()
	return v, classify(err)
}

// scriptCall is one script invocation of a pipelined group.
type scriptCall struct {
	script *redis.Script
	keys   []string
	args   []any
	// reply, if set, is given the call's answer when it succeeded.
	reply func(any)
}

// runPipelined runs calls in one pipeline (one round trip per node on a
// Cluster) and returns each call's error. Calls whose script is not cached
// on their node are retried after loading the scripts: a NOSCRIPT reply
// means the call did not run.
func (s *Store) runPipelined(ctx context.Context, calls []scriptCall) []error {
	errs := make([]error, len(calls))
	todo := make([]int, len(calls))
	for i := range todo {
		todo[i] = i
	}
	for attempt := 0; attempt < 2 && len(todo) > 0; attempt++ {
		pipe := s.rdb.Pipeline()
		cmds := make([]*redis.Cmd, len(todo))
		for j, i := range todo {
			c := calls[i]
			cmds[j] = c.script.EvalSha(ctx, pipe, c.keys, c.args...)
		}
		_, _ = pipe.Exec(ctx) // errors are per command below
		var again []int
		loaded := map[*redis.Script]bool{}
		for j, i := range todo {
			err := cmds[j].Err()
			if err != nil && isNoScript(err) && attempt == 0 {
				sc := calls[i].script
				if !loaded[sc] {
					if lerr := sc.Load(ctx, s.rdb).Err(); lerr != nil {
						errs[i] = fmt.Errorf("loading script: %w", classify(lerr))
						continue
					}
					loaded[sc] = true
				}
				again = append(again, i)
				continue
			}
			errs[i] = classify(err)
			if err == nil && calls[i].reply != nil {
				calls[i].reply(cmds[j].Val())
			}
		}
		todo = again
	}
	return errs
}

// runApplies runs apply script calls: on a single Redis, two or more as
// one call of luaApplyMany; on a Cluster, as a pipeline (one round trip
// per node). It returns each call's error.
func (s *Store) runApplies(ctx context.Context, calls []scriptCall) []error {
	if _, cluster := s.rdb.(*redis.ClusterClient); cluster || len(calls) < 2 {
		return s.runPipelined(ctx, calls)
	}
	errs := make([]error, len(calls))
	many := scriptCall{script: s.scripts.applyMany, keys: make([]string, len(calls))}
	n := 1
	for _, c := range calls {
		n += 2 + len(c.args)
	}
	many.args = make([]any, 0, n)
	many.args = append(many.args, len(calls))
	for i, c := range calls {
		kind := "a"
		if c.script == s.scripts.applyMirror {
			kind = "m"
		}
		many.keys[i] = c.keys[0]
		many.args = append(many.args, kind, len(c.args))
		many.args = append(many.args, c.args...)
	}
	many.reply = func(v any) {
		replies, ok := v.([]any)
		if !ok || len(replies) != len(calls) {
			err := fmt.Errorf("applying %d batches in one script: unexpected reply %T", len(calls), v)
			for i := range errs {
				errs[i] = err
			}
			return
		}
		for i, r := range replies {
			if err, ok := r.(error); ok {
				errs[i] = err
			} else if calls[i].reply != nil {
				calls[i].reply(r)
			}
		}
	}
	if err := s.runPipelined(ctx, []scriptCall{many})[0]; err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs
}

func isNoScript(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT")
}

// SegmentOf returns the segment id of a transaction committed at commit
// whose predecessor in the stream is in segment prev, with segments width
// long: max(prev, ⌊commit.Unix() / width⌋). It is the rule the changelog
// archive uses (batch/changelog.SegmentOf), so the speed layer and the
// archive cut the stream at the same boundaries. See the package
// documentation.
func SegmentOf(prev uint64, commit time.Time, width time.Duration) uint64 {
	w := int64(width / time.Second)
	t := commit.Unix()
	if w <= 0 || t <= 0 {
		return prev
	}
	return max(prev, uint64(t/w))
}

func redisZ(id uint64) redis.Z {
	return redis.Z{Score: float64(id), Member: strconv.FormatUint(id, 10)}
}
