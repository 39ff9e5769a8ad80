package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"path/filepath"
	"strings"
	"time"
)

// Store is the lake's object storage.
//
// Put reads r to EOF and stores its bytes under key atomically, replacing an
// existing object; if Put returns an error, key still holds its previous
// state. Get returns the object's bytes; the caller closes the reader. An
// object that does not exist yields an error for which
// errors.Is(err, fs.ErrNotExist) holds. List returns the objects whose keys
// start with prefix, sorted by key. Delete removes the given keys; keys that
// do not exist are not an error.
type Store interface {
	Put(ctx context.Context, key string, r io.Reader) error
	Get(ctx context.Context, key string) (io.ReadCloser, error)
	List(ctx context.Context, prefix string) ([]Object, error)
	Delete(ctx context.Context, keys ...string) error
}

// Object describes one stored object.
type Object struct {
	Key  string
	Size int64
}

// S3Options configures the S3 store. The zero value uses AWS defaults: the
// standard credential chain (environment, shared config, instance role) and
// the region from the environment.
type S3Options struct {
	// Endpoint is a custom S3 API endpoint ("http://127.0.0.1:9000" for
	// MinIO); "" means AWS.
	Endpoint string
	// Region; "" takes it from the standard config chain, and falls back to
	// "us-east-1" when that has none (MinIO ignores it).
	Region string
	// AccessKeyID and SecretAccessKey, when both set, are static credentials
	// used instead of the standard chain. SessionToken is optional.
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	// PathStyle addresses buckets as endpoint/bucket/key instead of
	// bucket.endpoint/key; MinIO needs it.
	PathStyle bool
	// PartSize is the multipart upload part size in bytes: objects larger
	// than one part are uploaded in parts. 0 means 16 MiB; S3 requires at
	// least 5 MiB, smaller values are raised to that.
	PartSize int64
	// Concurrency is the number of parts uploaded at once. 0 means 4.
	Concurrency int
	// MaxAttempts is how many times one request is tried (retrying
	// throttling, 5xx and connection errors with exponential backoff and
	// jitter). 0 means 8; 1 means no retry.
	MaxAttempts int
	// MaxBackoff caps the wait between two attempts. 0 means 5s.
	MaxBackoff time.Duration
}

// Open opens the store at root: "file:///path" (or an absolute path) for a
// local directory, created if missing, or "s3://bucket/prefix" for S3 with
// s3opts. Every key is relative to root.
func Open(ctx context.Context, root string, s3opts S3Options) (Store, error) {
	if filepath.IsAbs(root) {
		return OpenDir(root)
	}
	u, err := url.Parse(root)
	if err != nil {
		return nil, fmt.Errorf("lake root %q: %w (want file:///path or s3://bucket/prefix)", root, err)
	}
	switch u.Scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return nil, fmt.Errorf("lake root %q: a file URL needs three slashes (file:///path)", root)
		}
		return OpenDir(u.Path)
	case "s3":
		if u.Host == "" {
			return nil, fmt.Errorf("lake root %q: no bucket (want s3://bucket/prefix)", root)
		}
		return OpenS3(ctx, u.Host, strings.Trim(u.Path, "/"), s3opts)
	}
	return nil, fmt.Errorf("lake root %q: unsupported scheme %q (want file:///path or s3://bucket/prefix)", root, u.Scheme)
}

// tmpPrefix marks the local store's temporary files; keys may not use it.
const tmpPrefix = ".tmp-"

// checkKey reports whether key is a valid object key.
func checkKey(key string) error {
	if key == "" {
		return errors.New("empty key")
	}
	for _, el := range strings.Split(key, "/") {
		switch {
		case el == "" || el == "." || el == "..":
			return fmt.Errorf("key %q: empty, \".\" or \"..\" path element", key)
		case strings.HasPrefix(el, tmpPrefix):
			return fmt.Errorf("key %q: element %q uses the reserved prefix %q", key, el, tmpPrefix)
		case strings.ContainsRune(el, '\\') || strings.ContainsRune(el, 0):
			return fmt.Errorf("key %q: backslash or NUL in path element", key)
		}
	}
	return nil
}

// notExistError is a missing object: errors.Is(err, fs.ErrNotExist) holds.
type notExistError struct {
	key string
	err error
}

func (e *notExistError) Error() string {
	return fmt.Sprintf("object %q does not exist: %v", e.key, e.err)
}
func (e *notExistError) Unwrap() []error {
	return []error{fs.ErrNotExist, e.err}
}

// ReadAll returns the whole object at key.
func ReadAll(ctx context.Context, s Store, key string) ([]byte, error) {
	rc, err := s.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("reading object %q: %w", key, err)
	}
	return b, nil
}

// ctxReader stops a copy once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
