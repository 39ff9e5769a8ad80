package formats

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestTemporalTextByHand holds the hand-built DATE and DATETIME forms
// against time.AppendFormat, and AppendJSON of a time against FormatText.
func TestTemporalTextByHand(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	times := []time.Time{
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(1970, 1, 1, 0, 0, 0, 1000, time.UTC),
		time.Date(2024, 2, 29, 12, 34, 56, 123456789, time.FixedZone("x", 5*3600)),
		time.Date(1, 1, 1, 0, 0, 1, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), // outside MySQL's range: AppendFormat's form
	}
	for range 2000 {
		times = append(times, time.Unix(r.Int64N(253402300800)-62135596800, r.Int64N(1e9)))
	}
	for _, tm := range times {
		u := tm.UTC()
		if got, want := string(appendDateValue(nil, tm)), u.Format("2006-01-02"); got != want {
			t.Fatalf("date %v: %q, want %q", tm, got, want)
		}
		for fsp := 0; fsp <= 6; fsp++ {
			if got, want := string(appendDateTimeValue(nil, tm, fsp)), u.Format(dateTimeLayouts[fsp]); got != want {
				t.Fatalf("datetime(%d) %v: %q, want %q", fsp, tm, got, want)
			}
		}
		for _, ty := range []Type{{Kind: KindDate}, {Kind: KindDateTime, FSP: 3}, {Kind: KindTimestamp}, {Kind: KindVarChar}} {
			want := string(appendJSONStringValue(nil, FormatText(ty, tm)))
			if got := string(AppendJSON(nil, ty, tm)); got != want {
				t.Fatalf("JSON %s %v: %s, want %s", ty, tm, got, want)
			}
		}
	}
}
