package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLogEvent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tidemark.log")
	log := `time=2026-12-04T18:00:00.000Z level=INFO msg=ExtractStarted event=ExtractStarted tables=1
time=2026-12-04T18:00:01.000Z level=INFO msg="rebuild progress" table=bigshop.orders rows=4096
time=2026-12-04T18:00:03.000Z level=INFO msg=ExtractCompleted event=ExtractCompleted position="mariadb-bin.000001:1234 0-1-7" rows=1000000 seconds=3.25
`
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	kv, err := logEvent(path, "ExtractCompleted")
	if err != nil {
		t.Fatal(err)
	}
	if kv["rows"] != "1000000" || kv["seconds"] != "3.25" || kv["position"] != "mariadb-bin.000001:1234 0-1-7" {
		t.Fatalf("parsed %v", kv)
	}
	if _, err := logEvent(path, "TableSnapshotWritten"); err == nil {
		t.Fatal("missing event: no error")
	}
}
