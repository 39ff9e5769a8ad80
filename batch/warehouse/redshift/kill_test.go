package redshift

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tidemark/tidemark/batch/lake"
	"github.com/tidemark/tidemark/batch/warehouse"
)

// childEnv carries what the child load process needs.
const childEnv = "TIDEMARK_TEST_REDSHIFT_CHILD"

type childSpec struct {
	FakeURL, MinIOEndpoint, MinIORegion, MinIOKey, MinIOSecret string
	Schema                                                     string
	Kill                                                       string // a Hook point, or "" (killed from outside)
	Generation                                                 *warehouse.Generation
}

// TestLoadChild is the child process of TestKill9: it loads a generation
// and kills itself with SIGKILL at a hook point. It does nothing in a
// normal test run.
func TestLoadChild(t *testing.T) {
	path := os.Getenv(childEnv)
	if path == "" {
		return
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c childSpec
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	api, err := NewDataAPI(ctx, DataAPIOptions{WorkgroupName: "wg", Database: "dev", Region: "us-east-1", Endpoint: c.FakeURL,
		AccessKeyID: "AKIDTEST", SecretAccessKey: "secret-test", PollInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	store, err := lake.OpenS3(ctx, "lake", "tm", lake.S3Options{Endpoint: c.MinIOEndpoint, Region: c.MinIORegion,
		AccessKeyID: c.MinIOKey, SecretAccessKey: c.MinIOSecret, PathStyle: true})
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Exec: api, Target: c.Schema, Schema: c.Schema, Store: store, LakeRoot: "s3://lake/tm", IAMRole: testRole,
		Hook: func(p string) {
			if p == c.Kill {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Prepare(ctx, c.Generation); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Swap(ctx, c.Generation, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Hour) // killed from outside
}

// TestKill9 kills the loading process at several points (after a COPY
// manifest is written, before the swap, inside it while the swap batch
// runs, after it): readers see the previous generation or the new one,
// whole; the next load succeeds; DropOld leaves nothing of the others.
func TestKill9(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cols := allTypesColumns(t)[:20]
	c := e.conn(t)
	for i, point := range []string{HookManifest, HookBeforeSwap, "in-swap", HookAfterSwap} {
		t.Run(point, func(t *testing.T) {
			schema := "k" + itoa(uint64(i))
			l := e.loader(t, Options{Schema: schema})
			l.o.Target = schema
			defer l.Close()
			prev := allTypesRows(t, cols, 1, 40, uint64(10*i+1))
			next := allTypesRows(t, cols, 100, 60, uint64(10*i+2))
			base := uint64(10 * (i + 1))
			g1 := generation(t, e, base+1, cols, prev, true)
			if _, err := l.Prepare(ctx, g1); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Swap(ctx, g1, 0); err != nil {
				t.Fatal(err)
			}
			g2 := generation(t, e, base+2, cols, next, true)
			spec := childSpec{FakeURL: e.fake.URL, MinIOEndpoint: e.minio.Endpoint, MinIORegion: e.minio.Region,
				MinIOKey: e.minio.AccessKey, MinIOSecret: e.minio.SecretKey, Schema: schema, Generation: g2}
			if point != "in-swap" {
				spec.Kill = point
			}
			b, err := json.Marshal(spec)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "child.json")
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^TestLoadChild$", "-test.count=1")
			cmd.Env = append(os.Environ(), childEnv+"="+path)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			if point == "in-swap" {
				deadline := time.Now().Add(time.Minute)
				for !slices.ContainsFunc(e.fake.Executed(), func(s string) bool {
					return strings.HasPrefix(s, "LOCK ") && strings.Contains(s, `"`+schema+`"`)
				}) {
					if time.Now().After(deadline) {
						t.Fatal("the child never sent its swap")
					}
					time.Sleep(2 * time.Millisecond)
				}
				cmd.Process.Kill()
			}
			err = cmd.Wait()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
				t.Fatalf("the child was not killed at %s: %v", point, err)
			}
			// A reader sees one whole generation.
			time.Sleep(100 * time.Millisecond) // a swap batch the child sent finishes server-side
			got := readView(t, c, schema, "shop_alltypes", cols)
			switch {
			case point == HookAfterSwap && len(got) != len(next), (point == HookManifest || point == HookBeforeSwap) && len(got) != len(prev):
				t.Fatalf("killed at %s: the reader sees %d rows (previous generation %d, next %d)", point, len(got), len(prev), len(next))
			}
			if len(got) == len(next) {
				checkRows(t, "after the kill", cols, got, next)
			} else {
				checkRows(t, "after the kill", cols, got, prev)
			}
			// The next load succeeds and cleans up.
			if _, err := l.Prepare(ctx, g2); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Swap(ctx, g2, 0); err != nil {
				t.Fatal(err)
			}
			checkRows(t, "after the next load", cols, readView(t, c, schema, "shop_alltypes", cols), next)
			if err := l.DropOld(ctx, 1); err != nil {
				t.Fatal(err)
			}
			names, err := l.GenTables(ctx)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{warehouse.GenTable("shop_alltypes", base+2), warehouse.GenTable("types_by_color", base+2)}
			if !slices.Equal(names, want) {
				t.Fatalf("per-generation tables after the next load: %v, want %v", names, want)
			}
		})
	}
}
