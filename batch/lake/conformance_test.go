package lake

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"testing"
)

// testStore runs the Store contract against s, which must be empty.
func testStore(t *testing.T, s Store) {
	ctx := context.Background()
	put := func(key, body string) {
		t.Helper()
		if err := s.Put(ctx, key, strings.NewReader(body)); err != nil {
			t.Fatalf("Put(%q): %v", key, err)
		}
	}
	get := func(key string) string {
		t.Helper()
		b, err := ReadAll(ctx, s, key)
		if err != nil {
			t.Fatalf("Get(%q): %v", key, err)
		}
		return string(b)
	}
	keys := func(prefix string) string {
		t.Helper()
		objs, err := s.List(ctx, prefix)
		if err != nil {
			t.Fatalf("List(%q): %v", prefix, err)
		}
		var ks []string
		for _, o := range objs {
			ks = append(ks, fmt.Sprintf("%s:%d", o.Key, o.Size))
		}
		return strings.Join(ks, " ")
	}

	t.Run("put get overwrite", func(t *testing.T) {
		put("a/b/one.txt", "hello")
		if got := get("a/b/one.txt"); got != "hello" {
			t.Fatalf("got %q", got)
		}
		put("a/b/one.txt", "bye")
		if got := get("a/b/one.txt"); got != "bye" {
			t.Fatalf("after overwrite got %q", got)
		}
		put("a/empty", "")
		if got := get("a/empty"); got != "" {
			t.Fatalf("empty object: got %q", got)
		}
	})

	t.Run("missing is fs.ErrNotExist", func(t *testing.T) {
		_, err := s.Get(ctx, "a/nope")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Get missing: err = %v, want fs.ErrNotExist", err)
		}
	})

	t.Run("list by prefix sorted", func(t *testing.T) {
		put("l/x=2/f", "22")
		put("l/x=1/f", "1")
		put("l/x=10/f", "101")
		put("l/y", "y")
		put("l.z", "z")
		if got, want := keys("l/"), "l/x=1/f:1 l/x=10/f:3 l/x=2/f:2 l/y:1"; got != want {
			t.Fatalf("List(l/) = %s, want %s", got, want)
		}
		if got, want := keys("l/x=1"), "l/x=1/f:1 l/x=10/f:3"; got != want {
			t.Fatalf("List(l/x=1) = %s, want %s", got, want)
		}
		if got, want := keys("l"), "l.z:1 l/x=1/f:1 l/x=10/f:3 l/x=2/f:2 l/y:1"; got != want {
			t.Fatalf("List(l) = %s, want %s", got, want)
		}
		if got := keys("nothing/"); got != "" {
			t.Fatalf("List(nothing/) = %s", got)
		}
	})

	t.Run("delete", func(t *testing.T) {
		if err := s.Delete(ctx, "l/x=1/f", "l/x=2/f", "l/never"); err != nil {
			t.Fatal(err)
		}
		if got, want := keys("l/"), "l/x=10/f:3 l/y:1"; got != want {
			t.Fatalf("after delete List(l/) = %s, want %s", got, want)
		}
		if err := s.Delete(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("bad keys", func(t *testing.T) {
		for _, k := range []string{"", "/abs", "a//b", "a/../b", "a/.tmp-x", "a/"} {
			if err := s.Put(ctx, k, strings.NewReader("x")); err == nil {
				t.Errorf("Put(%q) succeeded, want an error", k)
			}
		}
	})

	t.Run("reader error leaves old object", func(t *testing.T) {
		put("r/obj", "old")
		bad := io.MultiReader(strings.NewReader("new-partial"), errReader{errors.New("source broke")})
		if err := s.Put(ctx, "r/obj", bad); err == nil || !strings.Contains(err.Error(), "source broke") {
			t.Fatalf("Put with failing reader: err = %v", err)
		}
		if got := get("r/obj"); got != "old" {
			t.Fatalf("after failed Put got %q, want old", got)
		}
		if got := keys("r/"); got != "r/obj:3" {
			t.Fatalf("after failed Put List = %s", got)
		}
	})

	t.Run("canceled put leaves nothing", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		pr, pw := io.Pipe()
		go func() {
			pw.Write(bytes.Repeat([]byte("x"), 1000))
			cancel()
			pw.Write(bytes.Repeat([]byte("y"), 1000))
			pw.Close()
		}()
		if err := s.Put(cctx, "c/obj", pr); err == nil {
			t.Fatal("Put with canceled ctx succeeded")
		}
		pr.CloseWithError(errors.New("done"))
		if got := keys("c/"); got != "" {
			t.Fatalf("after canceled Put List = %s", got)
		}
	})

	t.Run("concurrent puts of one key", func(t *testing.T) {
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				body := strings.Repeat(fmt.Sprint(i), 10000)
				if err := s.Put(ctx, "cc/obj", strings.NewReader(body)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got := get("cc/obj")
		if len(got) != 10000 || strings.Count(got, got[:1]) != 10000 {
			t.Fatalf("concurrent puts produced a mixed object (%d bytes)", len(got))
		}
	})
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }
