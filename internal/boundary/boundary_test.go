package boundary

import (
	"errors"
	"go/build"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/tidemark/tidemark/internal/stack"
)

const module = "github.com/tidemark/tidemark"

// layers are the top-level packages that must not depend on each other.
var layers = []string{"realtime", "batch", "reporting"}

// graph maps a package of the module (its path relative to the module root,
// "batch/lake") to the packages of the module its non-test files import.
type graph map[string][]string

// loadGraph reads the import graph of the module's packages at root with
// go/build (no go command, no network: it runs in -short mode).
func loadGraph(t *testing.T, root string) graph {
	t.Helper()
	g := graph{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
			return filepath.SkipDir
		}
		pkg, err := build.Default.ImportDir(path, 0)
		if err != nil {
			if _, ok := errors.AsType[*build.NoGoError](err); ok {
				return nil // a folder of data or docs
			}
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		var deps []string
		for _, imp := range pkg.Imports {
			if imp == module {
				deps = append(deps, ".")
			} else if r, ok := strings.CutPrefix(imp, module+"/"); ok {
				deps = append(deps, r)
			}
		}
		g[rel] = deps
		return nil
	})
	if err != nil {
		t.Fatalf("reading the module's packages: %v", err)
	}
	return g
}

// under reports whether pkg is top or a package below it.
func under(pkg, top string) bool { return pkg == top || strings.HasPrefix(pkg, top+"/") }

// reach returns the packages of g that pkg depends on, directly or not, each
// with the import chain that leads there ("realtime -> internal/x -> batch").
func (g graph) reach(pkg string) map[string]string {
	seen := map[string]string{}
	var walk func(p, chain string)
	walk = func(p, chain string) {
		for _, d := range g[p] {
			if _, ok := seen[d]; ok {
				continue
			}
			c := chain + " -> " + d
			seen[d] = c
			walk(d, c)
		}
	}
	walk(pkg, pkg)
	return seen
}

// violations lists every broken boundary of g, sorted.
func violations(g graph) []string {
	var out []string
	for pkg := range g {
		deps := g.reach(pkg)
		switch {
		case under(pkg, "formats"):
			for d, chain := range deps {
				if !under(d, "formats") {
					out = append(out, "formats is the leaf vocabulary and imports no sibling: "+chain)
				}
			}
		case under(pkg, "scheduler"):
			for d, chain := range deps {
				for _, l := range layers {
					if under(d, l) {
						out = append(out, "scheduler knows jobs through an interface, not "+l+": "+chain)
					}
				}
			}
		}
		for _, l := range layers {
			if !under(pkg, l) {
				continue
			}
			for d, chain := range deps {
				for _, m := range layers {
					if m != l && under(d, m) {
						out = append(out, l+" must not depend on "+m+": "+chain)
					}
				}
			}
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

func TestBoundaries(t *testing.T) {
	root := stack.Root()
	if root == "" {
		t.Fatal("cannot find the module root; set TIDEMARK_ROOT")
	}
	g := loadGraph(t, root)
	for _, p := range append([]string{"formats", "scheduler"}, layers...) {
		if _, ok := g[p]; !ok {
			t.Fatalf("package %s not found under %s: the boundary check would check nothing", p, root)
		}
	}
	if !slices.Contains(g["batch/athena"], "batch") || !slices.Contains(g["reporting"], "formats") {
		t.Fatalf("import graph misread: batch/athena -> %v, reporting -> %v", g["batch/athena"], g["reporting"])
	}
	for _, v := range violations(g) {
		t.Error(v)
	}
}

// TestViolationsFound: the checker itself reports each kind of breach,
// including one through a third package.
func TestViolationsFound(t *testing.T) {
	g := graph{
		"formats":          {"internal/config"},
		"internal/config":  nil,
		"realtime/apply":   {"internal/helper", "formats"},
		"internal/helper":  {"batch/lake"},
		"batch/lake":       nil,
		"reporting":        {"formats"},
		"scheduler":        {"batch"},
		"batch":            {"formats", "batch/lake"},
		"internal/serving": {"realtime/apply", "batch", "reporting"}, // wiring may import all
	}
	want := []string{
		"formats is the leaf vocabulary and imports no sibling: formats -> internal/config",
		"realtime must not depend on batch: realtime/apply -> internal/helper -> batch/lake",
		"scheduler knows jobs through an interface, not batch: scheduler -> batch",
		"scheduler knows jobs through an interface, not batch: scheduler -> batch -> batch/lake",
	}
	got := violations(g)
	if !slices.Equal(got, want) {
		t.Errorf("violations:\n got %q\nwant %q", got, want)
	}
}
