package lake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is a Store in a local directory: key "a/b/c" is the file root/a/b/c.
type Dir struct {
	root string
}

var _ Store = (*Dir)(nil)

// OpenDir opens (creating if needed) the local store rooted at dir.
func OpenDir(dir string) (*Dir, error) {
	if dir == "" {
		return nil, errors.New("opening lake directory: empty path")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("opening lake directory %q: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("opening lake directory: %w", err)
	}
	return &Dir{root: abs}, nil
}

// Root returns the store's absolute directory.
func (d *Dir) Root() string { return d.root }

// Path returns the local file name of key.
func (d *Dir) Path(key string) string { return filepath.Join(d.root, filepath.FromSlash(key)) }

// Put writes r to a temporary file beside key's file, fsyncs it, renames it
// over the key and fsyncs the folder, so that after a crash key holds either
// the old or the whole new object. A crash can leave a ".tmp-" file behind;
// List never shows it.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader) (err error) {
	if err := checkKey(key); err != nil {
		return fmt.Errorf("putting object: %w", err)
	}
	name := d.Path(key)
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("putting object %q: %w", key, err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+filepath.Base(name)+"-*")
	if err != nil {
		return fmt.Errorf("putting object %q: %w", key, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err := io.Copy(f, ctxReader{ctx, r}); err != nil {
		return fmt.Errorf("putting object %q: %w", key, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("putting object %q: syncing: %w", key, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("putting object %q: %w", key, err)
	}
	if err := os.Rename(f.Name(), name); err != nil {
		return fmt.Errorf("putting object %q: %w", key, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("putting object %q: syncing folder: %w", key, err)
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Get opens key's file.
func (d *Dir) Get(ctx context.Context, key string) (io.ReadCloser, error) {
	if err := checkKey(key); err != nil {
		return nil, fmt.Errorf("getting object: %w", err)
	}
	f, err := os.Open(d.Path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &notExistError{key: key, err: err}
	}
	if err != nil {
		return nil, fmt.Errorf("getting object %q: %w", key, err)
	}
	if st, err := f.Stat(); err == nil && st.IsDir() {
		f.Close()
		return nil, &notExistError{key: key, err: errors.New("is a folder")}
	}
	return f, nil
}

// List walks the folder that holds prefix and returns the files whose keys
// start with prefix.
func (d *Dir) List(ctx context.Context, prefix string) ([]Object, error) {
	start := d.root
	if i := strings.LastIndexByte(prefix, '/'); i >= 0 {
		start = d.Path(prefix[:i])
	}
	var out []Object
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			// Skip folders that cannot hold a matching key.
			if p != start && !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return filepath.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while listing
		}
		if err != nil {
			return err
		}
		out = append(out, Object{Key: key, Size: info.Size()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing %q: %w", prefix, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes the keys' files and then the folders they leave empty.
func (d *Dir) Delete(ctx context.Context, keys ...string) error {
	for _, key := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("deleting objects: %w", err)
		}
		if err := checkKey(key); err != nil {
			return fmt.Errorf("deleting object: %w", err)
		}
		name := d.Path(key)
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("deleting object %q: %w", key, err)
		}
		for dir := filepath.Dir(name); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
			if os.Remove(dir) != nil { // not empty, or gone
				break
			}
		}
	}
	return nil
}
