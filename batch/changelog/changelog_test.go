package changelog

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"os/exec"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/formats"
)

var testSchema = func() *formats.TableSchema {
	defs := []struct{ name, typ string }{
		{"id", "bigint"}, {"biu", "bigint unsigned"}, {"dc", "decimal(20,6)"}, {"dw", "decimal(65,30)"},
		{"f", "float"}, {"d", "double"}, {"dt", "date"}, {"dtm6", "datetime(6)"}, {"ts", "timestamp(3)"},
		{"tm", "time(2)"}, {"yr", "year"}, {"vc", "varchar(50)"}, {"tx", "text"}, {"vb", "varbinary(10)"},
		{"en", "enum('red','green','blue')"}, {"st", "set('a','b','c')"}, {"bt", "bit(64)"}, {"js", "json"},
	}
	s := &formats.TableSchema{Table: formats.TableID{DB: "shop", Table: "alltypes"}, PK: []int{0}}
	for i, d := range defs {
		t, err := formats.ParseColumnType(d.typ)
		if err != nil {
			panic(err)
		}
		s.Columns = append(s.Columns, formats.Column{Name: d.name, Type: t, Nullable: i > 0})
	}
	return s
}()

func testRow(i int) formats.Row {
	dw, _ := new(big.Int).SetString(strings.Repeat("9", 65), 10)
	if i%2 == 0 {
		dw.Neg(dw)
	}
	r := formats.Row{
		int64(i), uint64(math.MaxUint64 - uint64(i)), formats.DecimalFromScaled(big.NewInt(int64(i*1234567-99)), 6),
		formats.DecimalFromScaled(dw, 30), float64(float32(i) * 0.1), float64(i) / 7,
		time.Date(2024, 2, 1+i%28, 0, 0, 0, 0, time.UTC), time.Date(2024, 2, 1, 0, 0, 0, i*1000, time.UTC),
		time.Date(2024, 2, 1, 12, 0, 0, (i%1000)*1e6, time.UTC), -time.Duration(i)*time.Hour - 10*time.Millisecond,
		int64(1901 + i%200), fmt.Sprintf("v%d \"q\" \\ 🚀\n", i), "bad utf8 \xff\xfe" + strconv.Itoa(i), []byte{0, byte(i), 0xff},
		[]string{"red", "green", "blue"}[i%3], "a,c", uint64(i), fmt.Sprintf(`{"a":%d}`, i),
	}
	if i%5 == 0 {
		r[3], r[11], r[13] = nil, nil, nil
	}
	return r
}

var base = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

// testTxn is transaction i of a deterministic stream: one to three events,
// commit times a third of a second apart with an occasional clock step
// back (the segment rule must not go back with it).
func testTxn(i int) *formats.Txn {
	ct := base.Add(time.Duration(i) * time.Second / 3)
	if i%17 == 5 {
		ct = ct.Add(-5 * time.Second)
	}
	t := &formats.Txn{
		Pos:        formats.Position{File: "bin.000001", Offset: uint32(1000 + 100*i), GTID: fmt.Sprintf("0-1-%d", i+1)},
		CommitTime: ct.Truncate(time.Second),
	}
	for j := 0; j < 1+i%3; j++ {
		ev := formats.Event{Table: testSchema.Table, Schema: testSchema}
		switch j {
		case 0:
			ev.Op, ev.After = formats.OpInsert, testRow(i)
		case 1:
			ev.Op, ev.Before, ev.After = formats.OpUpdate, testRow(i), testRow(i+1)
		case 2:
			ev.Op, ev.Before = formats.OpDelete, testRow(i+1)
		}
		ev.Pos = t.Pos
		ev.Pos.Row = uint32(j + 1)
		t.Events = append(t.Events, ev)
	}
	if i%11 == 3 {
		t.Events = nil // a transaction with no captured rows still moves the position
	}
	return t
}

const segSeconds = 2

// boundary returns the smallest n >= atLeast such that txn n starts a new
// segment: feeding txns [0, n] seals every segment of [0, n).
func boundary(atLeast int) int {
	segs := expectedSegments(atLeast + 200)
	for n := max(atLeast, 1); ; n++ {
		if segs[n] != segs[n-1] {
			return n
		}
	}
}

// expectedSegments applies the segment rule to txns [0, n).
func expectedSegments(n int) []uint64 {
	var segs []uint64
	var prev uint64
	for i := 0; i < n; i++ {
		prev = SegmentOf(prev, testTxn(i).CommitTime, segSeconds)
		segs = append(segs, prev)
	}
	return segs
}

// feed sends txns [from, to) and closes the channel.
func feed(from, to int, delay time.Duration) <-chan *formats.Txn {
	ch := make(chan *formats.Txn)
	go func() {
		defer close(ch)
		for i := from; i < to; i++ {
			ch <- testTxn(i)
			if delay > 0 {
				time.Sleep(delay)
			}
		}
	}()
	return ch
}

func newArchiver(t testing.TB, store lake.Store) *Archiver {
	t.Helper()
	a, err := NewArchiver(store, Options{Source: "shop", SegmentSeconds: segSeconds})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// checkArchive reads the whole archive and checks that it holds exactly
// txns [0, n) in order, with the boundaries of the segment rule.
func checkArchive(t *testing.T, store lake.Store, n int) {
	t.Helper()
	ctx := context.Background()
	r := NewReader(store, "shop")
	segs := expectedSegments(n + 1)
	wantLast := segs[n-1]
	if segs[n] == wantLast {
		t.Fatalf("test bug: txn %d does not start a new segment", n)
	}
	last, err := r.Last(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if last == nil || last.Segment != wantLast {
		t.Fatalf("last sealed segment %v, want %d", last, wantLast)
	}
	ms, err := r.Manifests(ctx, 0, wantLast)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for _, m := range ms {
		for j := int64(0); j < m.Txns; j++ {
			if segs[i+int(j)] != m.Segment {
				t.Fatalf("txn %d is in segment %d, the rule says %d", i+int(j), m.Segment, segs[i+int(j)])
			}
		}
		i += int(m.Txns)
	}
	i = 0
	for txn, err := range r.ReadSegments(ctx, 0, wantLast) {
		if err != nil {
			t.Fatal(err)
		}
		if i >= n {
			t.Fatalf("archive has more than %d txns: %v", n, txn.Pos)
		}
		compareTxn(t, txn, testTxn(i))
		i++
	}
	if i != n {
		t.Fatalf("archive has %d txns, want %d", i, n)
	}
}

func compareTxn(t *testing.T, got, want *formats.Txn) {
	t.Helper()
	if got.Pos != want.Pos || !got.CommitTime.Equal(want.CommitTime) || len(got.Events) != len(want.Events) {
		t.Fatalf("txn %v at %v with %d events, want %v at %v with %d", got.Pos, got.CommitTime, len(got.Events),
			want.Pos, want.CommitTime, len(want.Events))
	}
	for k := range want.Events {
		g, w := got.Events[k], want.Events[k]
		if !sameSchema(g.Schema, w.Schema) {
			t.Fatalf("txn %v event %d: schema differs", want.Pos, k)
		}
		g.Schema, w.Schema = nil, nil
		if !reflect.DeepEqual(g, w) {
			for c := range w.After {
				if !reflect.DeepEqual(g.After[c], w.After[c]) {
					t.Errorf("column %s: got %#v, want %#v", testSchema.Columns[c].Name, g.After[c], w.After[c])
				}
			}
			t.Fatalf("txn %v event %d differs:\n got %+v\nwant %+v", want.Pos, k, g, w)
		}
	}
}

func TestArchiveRoundTrip(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	a := newArchiver(t, store)
	n := boundary(60)
	// Txn n opens a later segment, which seals the one holding txn n-1;
	// txn n itself stays in the open segment, discarded at return.
	if err := a.Run(ctx, feed(0, n+1, 0)); err != nil {
		t.Fatal(err)
	}
	checkArchive(t, store, n)
	pos, seg, err := a.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pos != testTxn(n-1).Pos || seg != expectedSegments(n)[n-1] {
		t.Fatalf("checkpoint %v seg %d, want %v seg %d", pos, seg, testTxn(n-1).Pos, expectedSegments(n)[n-1])
	}
	if objs, _ := store.List(ctx, "changelog/shop/seg="+segmentName(expectedSegments(n + 1)[n])); len(objs) != 0 {
		t.Fatalf("the open segment left objects: %v", objs)
	}
}

func TestRestartReplaysAndReseals(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	// First run stops (channel closed) in the middle of the stream.
	if err := newArchiver(t, store).Run(ctx, feed(0, 23, 0)); err != nil {
		t.Fatal(err)
	}
	r := NewReader(store, "shop")
	before, err := r.Manifests(ctx, 0, ^uint64(0))
	if err != nil || len(before) == 0 {
		t.Fatalf("manifests after first run: %v, %v", before, err)
	}
	// A crash between a data object and its manifest: the data of the next
	// segment exists without a manifest (an unfinished attempt).
	nextSeg := expectedSegments(40)[22]
	store.Put(ctx, dataKey("shop", nextSeg), strings.NewReader("garbage of a crashed attempt"))
	// The second run replays from the very beginning (another sink's
	// older checkpoint): archived transactions are skipped.
	n := boundary(80)
	if err := newArchiver(t, store).Run(ctx, feed(0, n+1, 0)); err != nil {
		t.Fatal(err)
	}
	checkArchive(t, store, n)
	after, _ := r.Manifests(ctx, 0, before[len(before)-1].Segment)
	for i := range before {
		if before[i].SHA256 != after[i].SHA256 || before[i].Last != after[i].Last {
			t.Fatalf("segment %d changed across the restart", before[i].Segment)
		}
	}
}

func TestOutOfOrderIsAnError(t *testing.T) {
	store, _ := lake.OpenDir(t.TempDir())
	ch := make(chan *formats.Txn, 3)
	ch <- testTxn(0)
	ch <- testTxn(2)
	ch <- testTxn(1)
	close(ch)
	err := newArchiver(t, store).Run(context.Background(), ch)
	if err == nil || !strings.Contains(err.Error(), "out of order") {
		t.Fatalf("err = %v", err)
	}
}

func TestStartSkipsSnapshotPosition(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	a, _ := NewArchiver(store, Options{Source: "shop", SegmentSeconds: segSeconds, Start: testTxn(9).Pos})
	if err := a.Run(ctx, feed(0, 40, 0)); err != nil {
		t.Fatal(err)
	}
	ms, err := NewReader(store, "shop").Manifests(ctx, 0, ^uint64(0))
	if err != nil {
		t.Fatal(err)
	}
	if ms[0].First != testTxn(10).Pos.String() || ms[0].PrevLast != testTxn(9).Pos.String() {
		t.Fatalf("first segment starts at %s after %s; want %s after %s", ms[0].First, ms[0].PrevLast, testTxn(10).Pos, testTxn(9).Pos)
	}
}

func TestReaderDetectsDamage(t *testing.T) {
	ctx := context.Background()
	store, _ := lake.OpenDir(t.TempDir())
	if err := newArchiver(t, store).Run(ctx, feed(0, 61, 0)); err != nil {
		t.Fatal(err)
	}
	r := NewReader(store, "shop")
	ms, _ := r.Manifests(ctx, 0, ^uint64(0))
	if len(ms) < 4 {
		t.Fatalf("only %d segments", len(ms))
	}
	last := ms[len(ms)-1].Segment
	drain := func(after, upto uint64) error {
		for _, err := range r.ReadSegments(ctx, after, upto) {
			if err != nil {
				return err
			}
		}
		return nil
	}
	if err := drain(0, last+1); !errors.Is(err, ErrNotSealed) {
		t.Errorf("unsealed upto: err = %v", err)
	}
	if err := drain(ms[0].Segment-1, last); !errors.Is(err, ErrGap) {
		t.Errorf("range starting after a segment the archive does not have: err = %v", err)
	}
	// Corrupt one data object: same length, one flipped byte.
	data, _ := lake.ReadAll(ctx, store, ms[2].Object)
	data[len(data)/2] ^= 1
	store.Put(ctx, ms[2].Object, strings.NewReader(string(data)))
	if err := drain(0, last); err == nil {
		t.Error("corrupt data object read without error")
	}
	// Remove a manifest in the middle: a gap.
	store.Delete(ctx, manifestKey("shop", ms[1].Segment))
	if err := drain(0, last); !errors.Is(err, ErrGap) {
		t.Errorf("missing manifest: err = %v", err)
	}
}

// TestArchiverSurvivesKill9 runs the archiver in a child process, kills it
// with SIGKILL at arbitrary moments, restarts it from its checkpoint, and
// checks that the archive holds every transaction exactly once, in order,
// cut at the segment rule's boundaries.
func TestArchiverSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	dir := t.TempDir()
	n := boundary(400)
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestArchiverChild$", "-test.v")
		cmd.Env = append(os.Environ(), "TIDEMARK_ARCHIVER_CHILD="+dir, "TIDEMARK_ARCHIVER_N="+strconv.Itoa(n+1))
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(150+100*round) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		t.Logf("round %d: child ended: %v", round, err)
	}
	store, _ := lake.OpenDir(dir)
	ckpt, seg, err := newArchiver(t, store).Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the kills: checkpoint %v segment %d", ckpt, seg)
	if err := newArchiver(t, store).Run(context.Background(), feed(0, n+1, 0)); err != nil {
		t.Fatal(err)
	}
	checkArchive(t, store, n)
}

// TestArchiverChild is the child of TestArchiverSurvivesKill9.
func TestArchiverChild(t *testing.T) {
	dir := os.Getenv("TIDEMARK_ARCHIVER_CHILD")
	if dir == "" {
		t.Skip("child process of TestArchiverSurvivesKill9")
	}
	n, _ := strconv.Atoi(os.Getenv("TIDEMARK_ARCHIVER_N"))
	store, _ := lake.OpenDir(dir)
	a := newArchiver(t, store)
	_, seg, err := a.Checkpoint(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// Replay from the start, as a capture resuming at an older position would.
	from := 0
	if seg > 0 && time.Now().UnixNano()%2 == 0 {
		for from < n && expectedSegments(from + 1)[from] <= seg {
			from++
		}
	}
	if err := a.Run(context.Background(), feed(from, n, 2*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
}
