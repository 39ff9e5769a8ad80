package lake

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDir(t *testing.T) {
	d, err := OpenDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	testStore(t, d)
}

func TestDirHidesCrashLeftovers(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, err := OpenDir(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Put(ctx, "g/obj", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// What a kill -9 in the middle of Put leaves behind.
	if err := os.WriteFile(filepath.Join(root, "g", ".tmp-obj2-123"), []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	objs, err := d.List(ctx, "g/")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 1 || objs[0].Key != "g/obj" {
		t.Fatalf("List = %v, want only g/obj", objs)
	}
}

func TestDeleteRemovesEmptyFolders(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	d, _ := OpenDir(root)
	d.Put(ctx, "t/gen=1/dt=x/p.parquet", strings.NewReader("x"))
	if err := d.Delete(ctx, "t/gen=1/dt=x/p.parquet"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "t")); !os.IsNotExist(err) {
		t.Fatalf("empty folders left behind: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("root removed: %v", err)
	}
}

func TestOpenRoots(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, root := range []string{"file://" + dir, dir} {
		s, err := Open(ctx, root, S3Options{})
		if err != nil {
			t.Fatalf("Open(%q): %v", root, err)
		}
		if d, ok := s.(*Dir); !ok || d.Root() != dir {
			t.Fatalf("Open(%q) = %#v", root, s)
		}
	}
	s, err := Open(ctx, "s3://bucket/some/prefix/", S3Options{Region: "us-east-1", AccessKeyID: "a", SecretAccessKey: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.(*S3).Root(); got != "s3://bucket/some/prefix/" {
		t.Fatalf("Root = %q", got)
	}
	for _, bad := range []string{"s3:///prefix", "gs://b/p", "file://host/path", "relative/path"} {
		if _, err := Open(ctx, bad, S3Options{}); err == nil {
			t.Errorf("Open(%q) succeeded, want an error", bad)
		}
	}
	if _, err := Open(ctx, "s3://b/p", S3Options{AccessKeyID: "only"}); err == nil {
		t.Error("half static credentials accepted")
	}
}
