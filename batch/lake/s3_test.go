package lake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/stack"
)

func openMinIO(t *testing.T, m *stack.MinIOServer, prefix string, o S3Options) *S3 {
	t.Helper()
	o.Endpoint, o.Region, o.PathStyle = m.Endpoint, m.Region, true
	o.AccessKeyID, o.SecretAccessKey = m.AccessKey, m.SecretKey
	s, err := Open(context.Background(), "s3://"+m.Bucket+"/"+prefix, o)
	if err != nil {
		t.Fatal(err)
	}
	return s.(*S3)
}

func TestS3OnMinIO(t *testing.T) {
	m := stack.MinIO(t)
	t.Run("contract", func(t *testing.T) {
		testStore(t, openMinIO(t, m, "tm/contract", S3Options{}))
	})
	t.Run("multipart round trip", func(t *testing.T) {
		ctx := context.Background()
		s := openMinIO(t, m, "tm/mp", S3Options{PartSize: 5 << 20})
		body := pattern(17 << 20) // four parts, the last one short
		if err := s.Put(ctx, "big.bin", &onlyReader{bytes.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
		got, err := ReadAll(ctx, s, "big.bin")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("multipart object differs: %d bytes back, want %d", len(got), len(body))
		}
	})
	t.Run("prefix isolation", func(t *testing.T) {
		ctx := context.Background()
		a := openMinIO(t, m, "tm/iso-a", S3Options{})
		b := openMinIO(t, m, "tm/iso-ab", S3Options{})
		if err := b.Put(ctx, "k", strings.NewReader("b")); err != nil {
			t.Fatal(err)
		}
		objs, err := a.List(ctx, "")
		if err != nil || len(objs) != 0 {
			t.Fatalf("store tm/iso-a sees %v (err %v) of tm/iso-ab", objs, err)
		}
	})
}

// TestS3ServerDiesMidUpload kills MinIO while a multipart upload is half
// sent. With MinIO back within the retry budget the upload completes; with
// MinIO down past it, Put fails with the connection error and no object, not
// even a partial one, is visible afterwards.
func TestS3ServerDiesMidUpload(t *testing.T) {
	m := stack.MinIO(t)
	ctx := context.Background()
	body := pattern(16 << 20)

	// upload starts a Put of body that pauses after the first part until
	// the returned resume is called.
	upload := func(s *S3, key string) (resume func(), done <-chan error) {
		r := &gatedReader{r: bytes.NewReader(body), at: 6 << 20, reached: make(chan struct{}), gate: make(chan struct{})}
		errc := make(chan error, 1)
		go func() { errc <- s.Put(ctx, key, r) }()
		select {
		case <-r.reached:
		case err := <-errc:
			t.Fatalf("Put ended before the pause: %v", err)
		}
		return func() { close(r.gate) }, errc
	}

	t.Run("back in time: retried", func(t *testing.T) {
		s := openMinIO(t, m, "tm/retry", S3Options{PartSize: 5 << 20, Concurrency: 1, MaxAttempts: 150, MaxBackoff: time.Second})
		resume, done := upload(s, "obj")
		m.Kill(t)
		resume()
		time.Sleep(500 * time.Millisecond)
		m.Start(t)
		if err := <-done; err != nil {
			t.Fatalf("Put across a MinIO restart: %v", err)
		}
		got, err := ReadAll(ctx, s, "obj")
		if err != nil {
			t.Fatal(err)
		}
		if sha256.Sum256(got) != sha256.Sum256(body) {
			t.Fatalf("object after retried upload differs (%d bytes)", len(got))
		}
	})

	t.Run("down for good: clear error, nothing visible", func(t *testing.T) {
		s := openMinIO(t, m, "tm/fail", S3Options{PartSize: 5 << 20, Concurrency: 1, MaxAttempts: 3, MaxBackoff: 100 * time.Millisecond})
		resume, done := upload(s, "obj")
		m.Kill(t)
		resume()
		err := <-done
		if err == nil {
			t.Fatal("Put succeeded with MinIO down")
		}
		if !strings.Contains(err.Error(), "tm/fail/obj") || !strings.Contains(err.Error(), "connect") {
			t.Errorf("error does not say what failed and why: %v", err)
		}
		t.Logf("error: %v", err)
		m.Start(t)
		objs, lerr := s.List(ctx, "")
		if lerr != nil {
			t.Fatal(lerr)
		}
		if len(objs) != 0 {
			t.Fatalf("partial upload visible: %v", objs)
		}
		if _, gerr := s.Get(ctx, "obj"); !errors.Is(gerr, fs.ErrNotExist) {
			t.Fatalf("Get after failed upload: %v, want not exist", gerr)
		}
	})
}

// pattern returns n deterministic, poorly compressible bytes.
func pattern(n int) []byte {
	b := make([]byte, n)
	x := uint64(0x9e3779b97f4a7c15)
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// onlyReader hides io.Seeker and io.ReaderAt, as a streamed source has none.
type onlyReader struct{ r io.Reader }

func (o *onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// gatedReader reads r, but once at bytes were read it closes reached and
// blocks until gate is closed.
type gatedReader struct {
	r       io.Reader
	n, at   int
	reached chan struct{}
	gate    chan struct{}
	paused  bool // reached is closed (the field itself is never written: the test reads it)
}

func (g *gatedReader) Read(p []byte) (int, error) {
	if g.n >= g.at && !g.paused {
		g.paused = true
		close(g.reached)
		<-g.gate
	}
	if g.n < g.at && g.n+len(p) > g.at {
		p = p[:g.at-g.n]
	}
	n, err := g.r.Read(p)
	g.n += n
	return n, err
}
