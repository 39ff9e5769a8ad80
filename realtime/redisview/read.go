package redisview

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
)

// The read side for the reporting API: reads of many keys in one atomic
// script step, so that an answer that needs many rows (a join over a
// thousand dimension keys) costs one round trip and never mixes two states
// of the mirror.

// luaReadMirrors returns many rows of a mirror at one instant: for each
// key the overlay's version when it is newer than the published cut, else
// the published generation's row.
//
// ARGV: prefix, pk1, pk2, ... Reply: {ckpt, gen, cut, cut_time, ckpt_time,
// rows}, where rows[i] answers pk i: the overlay value (["<version>", ...],
// a tombstone is ["<version>"]), or "B" followed by the generation's
// row, or false when the key is in neither.
//
// HMGET is issued in chunks because Lua's unpack is bounded by the C
// stack (LUAI_MAXCSTACK, 8000 values).
const luaReadMirrors = luaPrelude + `
local meta, p = KEYS[1], ARGV[1]
local m = redis.call('HMGET', meta, 'ckpt', 'gen', 'cut', 'cut_time', 'ckpt_time')
if not m[1] then
  return redis.error_reply('TMMISSING view state is missing (no checkpoint in ' .. meta .. ')')
end
local n = #ARGV - 1
local rows, need = {}, {}
local chunk = 4000
for base = 2, n + 1, chunk do
  local last = math.min(base + chunk - 1, n + 1)
  local o = redis.call('HMGET', p .. 'rows', unpack(ARGV, base, last))
  for j = 1, #o do
    local i = base - 2 + j
    local v = o[j]
    if v then
      local ver = string.match(v, '^%["([^"]*)"')
      if not m[3] or (ver and poscmp(ver, m[3]) > 0) then
        rows[i] = v
      else
        v = false
      end
    end
    if not v then
      rows[i] = false
      if m[2] then need[#need + 1] = i end
    end
  end
end
if m[2] then
  local mb = p .. 'mb:' .. m[2]
  for base = 1, #need, chunk do
    local last = math.min(base + chunk - 1, #need)
    local ks = {}
    for j = base, last do ks[#ks + 1] = ARGV[need[j] + 1] end
    local b = redis.call('HMGET', mb, unpack(ks))
    for j = 1, #b do
      if b[j] then rows[need[base + j - 1]] = 'B' .. b[j] end
    end
  end
end
m[6] = rows
return m
`

// readScripts are the scripts of the reporting read side.
type readScripts struct {
	readMirrors   *redis.Script
	mirrorOverlay *redis.Script // list.go
}

func newReadScripts() readScripts {
	return readScripts{readMirrors: redis.NewScript(luaReadMirrors), mirrorOverlay: redis.NewScript(luaMirrorOverlay)}
}

// MirrorReads is the answer of ReadMirrors: the rows of many keys and the
// one state they were all read at.
type MirrorReads struct {
	// Rows[i] answers the i-th key; Found is false for a key that does not
	// exist (never written, or deleted).
	Rows  []MirrorRow
	Found []bool
	// Freshness of every row.
	Generation      uint64
	Cut             formats.Position
	CutTime         time.Time
	Checkpoint      formats.Position
	CheckpointTime  time.Time
	CheckpointClock formats.Clock
}

// ReadMirrors returns the current rows of the keys pks (as ReadMirror does
// for one), all read in one atomic script step: the rows belong to one
// state of the mirror, never to two sides of a transaction or of a
// publish. The step's cost grows with len(pks) and blocks Redis meanwhile
// (about a millisecond per few thousand keys); callers bound the number of
// keys per call.
func (s *Store) ReadMirrors(ctx context.Context, view string, pks []string) (MirrorReads, error) {
	k, err := s.keys(view)
	if err != nil {
		return MirrorReads{}, err
	}
	args := make([]any, 0, 1+len(pks))
	args = append(args, k.base)
	for _, pk := range pks {
		args = append(args, pk)
	}
	v, err := s.runScript(ctx, s.reads.readMirrors, k.meta(), args...)
	if err != nil {
		return MirrorReads{}, fmt.Errorf("reading %d keys of mirror %s: %w", len(pks), view, scriptError(view, formats.Position{}, err))
	}
	reply, ok := v.([]any)
	if !ok || len(reply) != 6 {
		return MirrorReads{}, fmt.Errorf("reading %d keys of mirror %s: unexpected reply %T", len(pks), view, v)
	}
	// reply: ckpt, gen, cut, cut_time, ckpt_time, rows
	meta, err := parseMeta([]any{reply[0], nil, reply[1], reply[2], nil, reply[3], nil, reply[4]})
	if err != nil {
		return MirrorReads{}, fmt.Errorf("reading mirror %s: %w", view, err)
	}
	rows, _ := reply[5].([]any)
	if len(rows) != len(pks) {
		return MirrorReads{}, fmt.Errorf("reading mirror %s: %d rows for %d keys", view, len(rows), len(pks))
	}
	out := MirrorReads{
		Rows: make([]MirrorRow, len(pks)), Found: make([]bool, len(pks)),
		Generation: meta.Generation, Cut: meta.Cut, CutTime: meta.CutTime,
		Checkpoint: meta.Checkpoint, CheckpointTime: meta.CheckpointTime, CheckpointClock: meta.CheckpointClock,
	}
	for i, r := range rows {
		str, ok := r.(string)
		if !ok {
			continue // false: no such key
		}
		if len(str) > 0 && str[0] == 'B' {
			out.Rows[i], out.Found[i] = MirrorRow{PK: pks[i], Version: meta.Cut, Values: []byte(str[1:])}, true
			continue
		}
		ver, vals, err := parseOverlay(str)
		if err != nil {
			return MirrorReads{}, fmt.Errorf("reading mirror %s key %s: %w", view, pks[i], err)
		}
		if vals != nil {
			out.Rows[i], out.Found[i] = MirrorRow{PK: pks[i], Version: ver, Values: vals}, true
		}
	}
	return out, nil
}

// AggReader reads aggregate views like Store.ReadAgg, for a reader that
// reads the same views over and over (the reporting API): it remembers
// each view's groups as of its previous read and decodes only the groups
// whose stored state changed since. A group whose merged state is
// byte-identical to the previous read's keeps its *formats.Agg (the same
// pointer), so a consumer may keep what it derived from that pointer. The
// memory held is one decoded state per group of each view read. An
// AggReader is safe for concurrent use.
type AggReader struct {
	st    *Store
	mu    sync.Mutex
	views map[string]*aggMemo
}

// aggMemo is a view's groups at its latest read.
type aggMemo struct {
	fp     string // the view's fingerprint the states were read under
	groups map[string]decodedState
}

type decodedState struct {
	enc string // the merged state as stored
	agg *formats.Agg
}

// NewAggReader returns an AggReader on s.
func (s *Store) NewAggReader() *AggReader {
	return &AggReader{st: s, views: map[string]*aggMemo{}}
}

// ReadAgg is Store.ReadAgg, with unchanged groups' states reused from the
// previous read (see AggReader). The caller must not modify the states.
func (r *AggReader) ReadAgg(ctx context.Context, view *formats.View) (AggSnapshot, error) {
	enc, err := r.st.readAggEncoded(ctx, view.Name)
	if err != nil {
		return AggSnapshot{}, err
	}
	fp := Fingerprint(view)
	snap, err := enc.snapshot(view, fp)
	if err != nil {
		return AggSnapshot{}, err
	}
	r.mu.Lock()
	prev := r.views[view.Name]
	r.mu.Unlock()
	if prev != nil && prev.fp != fp {
		prev = nil
	}
	next := &aggMemo{fp: fp, groups: make(map[string]decodedState, len(enc.groups))}
	for f, st := range enc.groups {
		d, ok := decodedState{}, false
		if prev != nil {
			d, ok = prev.groups[f]
			ok = ok && d.enc == st
		}
		if !ok {
			a, err := view.DecodeAgg([]byte(st))
			if err != nil {
				return AggSnapshot{}, fmt.Errorf("reading view %s: group %q: %w", view.Name, f, err)
			}
			d = decodedState{enc: st, agg: a}
		}
		next.groups[f] = d
		snap.Groups[formats.GroupKey(f)] = d.agg
	}
	r.mu.Lock()
	r.views[view.Name] = next
	r.mu.Unlock()
	return snap, nil
}
