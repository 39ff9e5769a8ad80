package capture

import "github.com/go-mysql-org/go-mysql/replication"

// partialImage names the row image of e that lacks a column ("before
// image", "after image"), or "" when both are full. The column bitmaps of
// the rows event's header say which columns each image holds: a FULL image
// sets every bit; MINIMAL and NOBLOB images leave out the columns that are
// not needed to find the row or did not change.
func partialImage(e *replication.RowsEvent) string {
	n := int(e.ColumnCount)
	switch e.Type() {
	case replication.EnumRowsEventTypeUpdate:
		if !fullBitmap(e.ColumnBitmap1, n) {
			return "before image"
		}
		if !fullBitmap(e.ColumnBitmap2, n) {
			return "after image"
		}
	case replication.EnumRowsEventTypeDelete:
		if !fullBitmap(e.ColumnBitmap1, n) {
			return "before image"
		}
	default:
		if !fullBitmap(e.ColumnBitmap1, n) {
			return "after image"
		}
	}
	return ""
}

// fullBitmap reports whether the first n bits of b are all set.
func fullBitmap(b []byte, n int) bool {
	if len(b) < (n+7)/8 {
		return false
	}
	for i := 0; i < n/8; i++ {
		if b[i] != 0xff {
			return false
		}
	}
	if r := n % 8; r != 0 {
		mask := byte(1<<r) - 1
		return b[n/8]&mask == mask
	}
	return true
}
