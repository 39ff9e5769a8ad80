package batch

import (
	"context"
	"testing"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/internal/stack"
)

// TestRebuildOnMinIO runs a bootstrap and a rolled-forward generation on a
// real S3 API (base files are read back through spooled copies).
func TestRebuildOnMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.MinIO(t)
	store, err := lake.Open(ctx, "s3://"+m.Bucket+"/tm", lake.S3Options{
		Endpoint: m.Endpoint, Region: m.Region, PathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	md := newModel(11)
	for range 40 {
		md.step()
	}
	opts := testOptions(&recordingPublisher{})
	g0, err := Rebuild(ctx, store, md, opts)
	if err != nil {
		t.Fatal(err)
	}
	checkGeneration(t, store, g0, md)
	for range 80 {
		md.step()
	}
	archive(t, store, md, md.txns[39].Pos)
	g1, err := Rebuild(ctx, store, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if g1.Base != "generation 0" || g1.CutSegment == 0 {
		t.Fatalf("generation 1: base %q, cut segment %d", g1.Base, g1.CutSegment)
	}
	checkGeneration(t, store, g1, md)
}
