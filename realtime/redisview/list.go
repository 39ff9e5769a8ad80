package redisview

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

	"github.com/tidemark/tidemark/formats"
)

// ErrGenerationGone is matched by the error ScanMirrorGeneration returns
// when the generation it scanned was deleted or replaced while it ran (two
// publishes, or a reset and a new bootstrap, in the meantime): what it
// yielded may be partial. The caller starts over from MirrorOverlay.
var ErrGenerationGone = errors.New("mirror generation deleted during the scan")

// luaMirrorOverlay returns a mirror's meta and the whole of its speed
// overlay that the published cut does not cover, at one instant.
//
// ARGV: prefix. Reply: {ckpt, gen, cut, cut_time, ckpt_time, overlay},
// overlay a flat list pk1, value1, pk2, value2, ... of the overlay entries
// newer than the cut (tombstones included).
const luaMirrorOverlay = luaPrelude + `
local meta, p = KEYS[1], ARGV[1]
local m = redis.call('HMGET', meta, 'ckpt', 'gen', 'cut', 'cut_time', 'ckpt_time')
if not m[1] then
  return redis.error_reply('TMMISSING view state is missing (no checkpoint in ' .. meta .. ')')
end
local h = redis.call('HGETALL', p .. 'rows')
local out = {}
for j = 1, #h, 2 do
  local ver = string.match(h[j + 1], '^%["([^"]*)"')
  if not m[3] or (ver and poscmp(ver, m[3]) > 0) then
    out[#out + 1] = h[j]
    out[#out + 1] = h[j + 1]
  end
end
m[6] = out
return m
`

// MirrorOverlay is a mirror's state at one instant, but for the rows of its
// published generation (immutable once published: ScanMirrorGeneration
// reads them): the mirror's rows are Overlay's rows with values, and the
// generation's rows whose key Overlay does not hold.
type MirrorOverlay struct {
	Meta
	// Overlay holds the speed layer's changes after the cut, by key;
	// Values is nil for a deletion.
	Overlay map[string]MirrorRow
}

// MirrorOverlay reads the mirror's meta and the overlay entries newer than
// its published cut in one atomic script step. Its cost grows with the keys
// changed since the last publish (Redis is blocked meanwhile).
func (s *Store) MirrorOverlay(ctx context.Context, view string) (MirrorOverlay, error) {
	k, err := s.keys(view)
	if err != nil {
		return MirrorOverlay{}, err
	}
	v, err := s.runScript(ctx, s.reads.mirrorOverlay, k.meta(), k.base)
	if err != nil {
		return MirrorOverlay{}, fmt.Errorf("reading the overlay of mirror %s: %w", view, scriptError(view, formats.Position{}, err))
	}
	reply, ok := v.([]any)
	if !ok || len(reply) != 6 {
		return MirrorOverlay{}, fmt.Errorf("reading the overlay of mirror %s: unexpected reply %T", view, v)
	}
	meta, err := parseMeta([]any{reply[0], nil, reply[1], reply[2], nil, reply[3], nil, reply[4]})
	if err != nil {
		return MirrorOverlay{}, fmt.Errorf("reading the overlay of mirror %s: %w", view, err)
	}
	flat, _ := reply[5].([]any)
	out := MirrorOverlay{Meta: meta, Overlay: make(map[string]MirrorRow, len(flat)/2)}
	for i := 0; i+1 < len(flat); i += 2 {
		pk, _ := flat[i].(string)
		val, _ := flat[i+1].(string)
		ver, vals, err := parseOverlay(val)
		if err != nil {
			return MirrorOverlay{}, fmt.Errorf("reading the overlay of mirror %s key %q: %w", view, pk, err)
		}
		out.Overlay[pk] = MirrorRow{PK: pk, Version: ver, Values: vals}
	}
	return out, nil
}

// ScanMirrorGeneration calls fn for every row of the mirror's generation
// gen published at cut, page by page (HSCAN, which may return a row twice:
// fn must tolerate that). A published generation never changes and is kept
// until the publish after the next one, so the rows are its whole content
// unless it was deleted or replaced meanwhile, which ScanMirrorGeneration
// checks after the last page (ErrGenerationGone).
func (s *Store) ScanMirrorGeneration(ctx context.Context, view string, gen uint64, cut formats.Position, fn func(pk string, values []byte) error) error {
	k, err := s.keys(view)
	if err != nil {
		return err
	}
	if err := s.hscan(ctx, k.mirrorBatch(gen), func(pk, v string) error { return fn(pk, []byte(v)) }); err != nil {
		return fmt.Errorf("scanning generation %d of mirror %s: %w", gen, view, err)
	}
	_, err = s.rdb.ZScore(ctx, k.gens(), strconv.FormatUint(gen, 10)).Result()
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("scanning generation %d of mirror %s: %w", gen, view, ErrGenerationGone)
	}
	if err != nil {
		return fmt.Errorf("scanning generation %d of mirror %s: %w", gen, view, err)
	}
	m, err := s.Meta(ctx, view)
	if err != nil {
		return fmt.Errorf("scanning generation %d of mirror %s: %w", gen, view, err)
	}
	// A reset and a new bootstrap reuse generation 0 with another cut.
	if !m.Published || m.Generation < gen || (m.Generation == gen && m.Cut.Compare(cut) != 0) {
		return fmt.Errorf("scanning generation %d of mirror %s: %w", gen, view, ErrGenerationGone)
	}
	return nil
}
