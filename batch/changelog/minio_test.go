package changelog

import (
	"context"
	"testing"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/internal/stack"
)

// TestArchiveOnMinIO archives, stops mid-stream and resumes against a real
// S3 API.
func TestArchiveOnMinIO(t *testing.T) {
	m := stack.MinIO(t)
	ctx := context.Background()
	store, err := lake.Open(ctx, "s3://"+m.Bucket+"/tm", lake.S3Options{
		Endpoint: m.Endpoint, Region: m.Region, PathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := newArchiver(t, store).Run(ctx, feed(0, 31, 0)); err != nil {
		t.Fatal(err)
	}
	n := boundary(70)
	if err := newArchiver(t, store).Run(ctx, feed(0, n+1, 0)); err != nil {
		t.Fatal(err)
	}
	checkArchive(t, store, n)
}
