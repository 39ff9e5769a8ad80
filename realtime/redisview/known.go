package redisview

import (
	"context"
	"fmt"

	"github.com/tidemark/tidemark/formats"
)

// Known is what one applier knows of an aggregate view's stored speed
// states: for some groups, the value it last wrote or was told of in the
// newest segment it wrote to and in the running total. ApplyAll uses it
// to take the arithmetic out of Redis: for a known group the call carries,
// beside the delta, the value it expects each hash to hold and the sum to
// store, computed in Go; the script stores that sum when it finds exactly
// the expected value (a string comparison) and adds the delta itself, as
// without Known, when it does not. What Known holds therefore decides only
// how much work Redis does, never what it stores: a stale entry (after a
// publish recomputed the running total, or a batch that was not applied)
// costs one addition in Lua, and the script's answer corrects the entry.
//
// A Known belongs to one applier of one view and is used by one ApplyAll
// call at a time. Its size is bounded (see NewKnown); groups beyond the
// bound are applied as without it.
type Known struct {
	max int
	// vals[h] holds groups' stored states in hash h: inSegment (segment
	// seg's) or inTotal (the running total). A full Known of the default
	// bound holds about 7 MiB per hash (a group's encoding and value).
	vals [2]map[string]*knownState
	// whole[h] means vals[h] holds every group of the hash, so a group
	// not in it is absent: the segment was opened by this Known's batches
	// (a later segment than the checkpoint's, which no batch has written
	// to), or the running total was read whole; and no group was left out
	// for the bound since.
	whole  [2]bool
	seg    uint64
	loaded bool // the running total was read (see Store.loadKnown)
	// matched and added count the fields a script stored from the
	// caller's sum and those it added the delta to itself.
	matched, added int
}

// knownState is a stored state: its encoding ("" absent) and, once it
// was needed, its value.
type knownState struct {
	enc string
	agg *formats.Agg
}

// The hashes of a Known.
const (
	inSegment = 0
	inTotal   = 1
)

// DefaultKnownGroups is the bound NewKnown uses for max <= 0.
const DefaultKnownGroups = 1 << 14

// casMaxGroups is the most groups a batch segment may have to be applied
// with Known; a larger batch (a catch-up's) is applied as without it.
const casMaxGroups = 512

// NewKnown returns an empty Known for a view whose checkpoint is in
// segment seg, holding at most max groups per hash (0 means
// DefaultKnownGroups).
func NewKnown(seg uint64, max int) *Known {
	if max <= 0 {
		max = DefaultKnownGroups
	}
	return &Known{max: max, seg: seg, vals: [2]map[string]*knownState{{}, {}}}
}

// Counts returns how many hash fields scripts stored from the sums the
// caller computed with k, and how many they had to add themselves.
func (k *Known) Counts() (matched, added int) { return k.matched, k.added }

// put records the stored encoding enc ("" absent) of group f in hash h,
// within the bound.
func (k *Known) put(h int, f, enc string) {
	if st := k.vals[h][f]; st != nil {
		*st = knownState{enc: enc}
		return
	}
	if len(k.vals[h]) < k.max {
		k.vals[h][f] = &knownState{enc: enc}
		return
	}
	k.whole[h] = false
}

// add moves group f's known state in hash h on by delta d (encoded denc)
// and returns the value the call expects the hash to hold ("-" absent)
// and the one to store ("" deletes); want is "" when k does not know the
// group's state (or it does not decode): the script must add d itself.
// The state is updated in place: one map lookup, no allocation for a
// group known present.
func (k *Known) add(v *formats.View, h int, f string, d *formats.Agg, denc string, buf []byte) (want, next string, _ []byte) {
	st := k.vals[h][f]
	if st == nil && !k.whole[h] {
		return "", "", buf
	}
	if st == nil || st.enc == "" { // known absent: the sum is the delta
		if st == nil {
			if len(k.vals[h]) >= k.max {
				k.whole[h] = false
				return "", "", buf
			}
			st = &knownState{}
			k.vals[h][f] = st
		}
		*st = knownState{enc: denc, agg: d.Clone()}
		return "-", denc, buf
	}
	want = st.enc
	if st.agg == nil {
		a, err := v.DecodeAgg([]byte(st.enc))
		if err != nil {
			// The script will say what the hash holds.
			delete(k.vals[h], f)
			k.whole[h] = false
			return "", "", buf
		}
		st.agg = a
	}
	st.agg.Add(d)
	if st.agg.IsZero() {
		*st = knownState{}
		return want, "", buf
	}
	buf = st.agg.AppendEncode(buf[:0])
	st.enc = string(buf)
	return want, st.enc, buf
}

// loadKnown fills k with the view's running total, once, if it has at
// most k's bound of groups. The read need not be atomic with anything:
// an entry that is stale by the time it is used only costs a Lua addition.
func (s *Store) loadKnown(ctx context.Context, v *formats.View, k *Known) error {
	if k.loaded {
		return nil
	}
	keys, err := s.keys(v.Name)
	if err != nil {
		return err
	}
	n, err := s.rdb.HLen(ctx, keys.speed()).Result()
	if err != nil {
		return fmt.Errorf("reading the running total of view %s: %w", v.Name, classify(err))
	}
	if n > int64(k.max) {
		k.loaded = true
		return nil
	}
	all, err := s.rdb.HGetAll(ctx, keys.speed()).Result()
	if err != nil {
		return fmt.Errorf("reading the running total of view %s: %w", v.Name, classify(err))
	}
	clear(k.vals[inTotal])
	for f, enc := range all {
		k.put(inTotal, f, enc)
	}
	k.loaded, k.whole[inTotal] = true, len(all) <= k.max
	return nil
}

// casBatch is one call's use of a Known.
type casBatch struct {
	known *Known
	view  *formats.View
}

// fits reports whether deltas can go with Known: every segment has at
// most casMaxGroups groups (a larger batch's answer would be as large).
func fits(deltas []SegDelta) bool {
	for _, sd := range deltas {
		if len(sd.Delta) > casMaxGroups {
			return false
		}
	}
	return true
}

// enter starts the deltas of segment seg.
func (c *casBatch) enter(seg uint64) {
	if k := c.known; seg > k.seg {
		// A segment after the checkpoint's: no batch has written to it
		// (a batch moves the checkpoint with its writes), so every group
		// is absent from it.
		k.seg, k.whole[inSegment] = seg, true
		clear(k.vals[inSegment])
	}
}

// appendSums appends to an entry of group f in segment seg, after its
// delta d (encoded denc), what makes it an entry of six (see
// luaApplyAgg): per hash the value expected and the sum, or "", "" where
// the state is unknown. It records the sums as what the hashes will hold:
// if the call fails or finds other values, the entries are merely stale
// (see Known).
func (c *casBatch) appendSums(fields []string, seg uint64, f string, d *formats.Agg, denc string, buf []byte) ([]string, []byte) {
	k := c.known
	for h := range k.vals {
		// Unknown ("", ""): a segment older than the newest, or a state
		// add does not know.
		var want, next string
		if h == inTotal || seg == k.seg {
			want, next, buf = k.add(c.view, h, f, d, denc, buf)
		}
		fields = append(fields, want, next)
	}
	return fields, buf
}

// learn records, from a script's answer to segs, the values the script
// computed itself: those of groups the Known did not know or knew stale.
func (c *casBatch) learn(segs []encodedSeg, reply any) {
	vals, ok := reply.([]any)
	if !ok {
		return // applied already: nothing was written
	}
	k, n := c.known, 0
	for _, sg := range segs {
		for j := 0; j < len(sg.fields); j += 6 {
			if n+1 >= len(vals) {
				return
			}
			f := sg.fields[j]
			for h := range k.vals {
				enc, told := vals[n+h].(string)
				if !told {
					k.matched++
					continue
				}
				k.added++
				if h == inTotal || sg.seg == k.seg {
					k.put(h, f, enc)
				}
			}
			n += 2
		}
	}
}
