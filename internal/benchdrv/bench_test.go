package main

import (
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/formats"
)

func TestParsePerfReport(t *testing.T) {
	out := []byte(`# Samples: 776  of event 'cpu-clock:ppp'
#
# Overhead  Shared Object      Symbol                                   IPC   [IPC Coverage]
# ........  .................  .......................................  ....................
#
    14.95%  [kernel.kallsyms]  [k] pvm_irq_enable                       -      -
    10.31%  tidemark           [.] runtime.memmove                      -      -
     1.68%  tidemark           [.] github.com/go-mysql-org/go-mysql/replication.(*RowsEvent).decodeImage  -  -
     1.16%  tidemark           [.] github.com/tidemark/tidemark/formats.(*BoundView).apply  -  -
     0.50%  tidemark           [.] main.main                            -      -
`)
	s, err := parsePerfReport(out)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 5 || s[0].pct != 14.95 || !s[0].kernel || s[1].sym != "runtime.memmove" || s[1].dso != "tidemark" {
		t.Fatalf("parsed %+v", s)
	}
	got := summarizeGo(s)
	for _, want := range []string{"15% kernel", "10% Go runtime", "2% go-mysql decoding", "1% formats", "0% other"} {
		if !strings.Contains(got, want) {
			t.Errorf("summary %q lacks %q", got, want)
		}
	}
	if got := summarizeNative(s); !strings.HasPrefix(got, "15% kernel, 14% tidemark") {
		t.Errorf("native summary %q", got)
	}
}

func TestPct(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(i))
	}
	if pct(ds, 50) != 50 || pct(ds, 99) != 99 || pct(ds, 100) != 100 || pct(ds[:1], 99) != 1 || pct(nil, 50) != 0 {
		t.Errorf("pct: %d %d %d", pct(ds, 50), pct(ds, 99), pct(ds, 100))
	}
}

func TestGTIDSeq(t *testing.T) {
	if n, err := gtidSeq("0-1-214"); err != nil || n != 214 {
		t.Errorf("gtidSeq = %d, %v", n, err)
	}
	if _, err := gtidSeq("0-1-2,1-1-3"); err == nil {
		t.Error("two domains accepted")
	}
}

func TestMinCheckpoint(t *testing.T) {
	a := formats.Position{File: "mariadb-bin.000001", Offset: 10}
	b := formats.Position{File: "mariadb-bin.000001", Offset: 5}
	if m, ok := minCheckpoint([]formats.Position{a, b}); !ok || m != b {
		t.Errorf("min = %v %v", m, ok)
	}
	if _, ok := minCheckpoint([]formats.Position{a, {}}); ok {
		t.Error("a missing checkpoint counted")
	}
}

func TestFormat(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := fmtInt(n); got != want {
			t.Errorf("fmtInt(%d) = %q, want %q", n, got, want)
		}
	}
}
