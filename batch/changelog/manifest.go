package changelog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

// Manifest describes one sealed segment. It is written after the segment's
// data object; its existence is what makes the segment part of the archive.
type Manifest struct {
	Version int    `json:"version"`
	Source  string `json:"source"`
	Segment uint64 `json:"segment"`
	// PrevSegment and PrevLast are the previous sealed segment and its last
	// position (0 and the archive's start position for the first segment):
	// consecutive manifests must chain, which proves there is no gap.
	PrevSegment uint64 `json:"prev_segment"`
	PrevLast    string `json:"prev_last"`
	// First and Last are the commit positions of the segment's first and
	// last transactions (formats.Position strings, GTID included).
	First       string    `json:"first"`
	Last        string    `json:"last"`
	FirstGTID   string    `json:"first_gtid,omitempty"`
	LastGTID    string    `json:"last_gtid,omitempty"`
	FirstCommit time.Time `json:"first_commit"`
	LastCommit  time.Time `json:"last_commit"`
	// NextSegment is the segment of the transaction, or of the capture's
	// tick on an idle stream (formats.Txn.IsTick), whose arrival sealed
	// this one: the next segment's id is at least this, also after a
	// restart that does not see the tick again. 0 in manifests written
	// before it existed (then the next segment follows the stream).
	NextSegment uint64 `json:"next_segment,omitempty"`
	Txns        int64  `json:"txns"`
	Events      int64  `json:"events"`
	// Tables counts the segment's row changes per table ("db.table").
	Tables map[string]*TableCounts `json:"tables"`
	// Object is the data object's key (relative to the lake root), Bytes
	// its size and SHA256 the hex digest of its bytes.
	Object   string    `json:"object"`
	Bytes    int64     `json:"bytes"`
	SHA256   string    `json:"sha256"`
	SealedAt time.Time `json:"sealed_at"`
	// Gap, when set, makes this a segment without data recording that the
	// changes in (PrevLast, Last] are missing (see Gap, gap.go).
	Gap *Gap `json:"gap,omitempty"`
}

// TableCounts are one table's row changes in a segment.
type TableCounts struct {
	Inserts int64 `json:"inserts"`
	Updates int64 `json:"updates"`
	Deletes int64 `json:"deletes"`
}

// LastPosition parses Last.
func (m *Manifest) LastPosition() (formats.Position, error) { return formats.ParsePosition(m.Last) }

// manifestVersion is the version of the manifest and data format.
const manifestVersion = 1

func root(source string) string        { return path.Join("changelog", source) }
func manifestDir(source string) string { return root(source) + "/_manifests/" }
func manifestKey(source string, seg uint64) string {
	return manifestDir(source) + segmentName(seg) + ".json"
}
func dataKey(source string, seg uint64) string {
	return root(source) + "/seg=" + segmentName(seg) + "/changes.ndjson.zst"
}
func latestKey(source string) string { return root(source) + "/_latest.json" }

type latestHint struct {
	Segment uint64 `json:"segment"`
}

func readManifest(ctx context.Context, store lake.Store, source string, seg uint64) (*Manifest, error) {
	b, err := lake.ReadAll(ctx, store, manifestKey(source, seg))
	if err != nil {
		return nil, fmt.Errorf("reading manifest of segment %d: %w", seg, err)
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("decoding manifest of segment %d: %w", seg, err)
	}
	if m.Version != manifestVersion || m.Segment != seg || m.Source != source {
		return nil, fmt.Errorf("manifest %s: version %d, segment %d, source %q: not a version %d manifest of segment %d of %q",
			manifestKey(source, seg), m.Version, m.Segment, m.Source, manifestVersion, seg, source)
	}
	return &m, nil
}

// lastSealed returns the last sealed segment's manifest, or nil for an
// empty archive. It trusts the _latest hint for where to start and then
// looks for later manifests (the hint is written after the manifest, so a
// crash can leave it one segment behind).
func lastSealed(ctx context.Context, store lake.Store, source string) (*Manifest, error) {
	var from uint64
	b, err := lake.ReadAll(ctx, store, latestKey(source))
	switch {
	case err == nil:
		var h latestHint
		if err := json.Unmarshal(b, &h); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", latestKey(source), err)
		}
		from = h.Segment
	case errors.Is(err, fs.ErrNotExist):
	default:
		return nil, err
	}
	segs, err := listSegments(ctx, store, source, from, ^uint64(0))
	if err != nil {
		return nil, err
	}
	if len(segs) == 0 {
		return nil, nil
	}
	return readManifest(ctx, store, source, segs[len(segs)-1])
}

// listSegments returns the sealed segment ids in [from, upto], ascending.
// It lists only the key prefix the range shares.
func listSegments(ctx context.Context, store lake.Store, source string, from, upto uint64) ([]uint64, error) {
	a, b := segmentName(from), segmentName(upto)
	n := 0
	for n < len(a) && a[n] == b[n] {
		n++
	}
	objs, err := store.List(ctx, manifestDir(source)+a[:n])
	if err != nil {
		return nil, fmt.Errorf("listing changelog manifests of %s: %w", source, err)
	}
	var segs []uint64
	for _, o := range objs {
		name := strings.TrimSuffix(strings.TrimPrefix(o.Key, manifestDir(source)), ".json")
		seg, err := parseSegmentName(name)
		if err != nil {
			continue // not a manifest
		}
		if seg >= from && seg <= upto {
			segs = append(segs, seg)
		}
	}
	return segs, nil
}

func putJSON(ctx context.Context, store lake.Store, key string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", key, err)
	}
	return store.Put(ctx, key, bytes.NewReader(append(b, '\n')))
}
