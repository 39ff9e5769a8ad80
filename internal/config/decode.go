package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// decodeStrict decodes YAML into dst, rejecting unknown keys with their
// dotted path and the nearest known key. yaml.v3's own KnownFields reports
// only a line and a Go type name, which tells a user nothing about where in
// the file's structure the mistake is.
func decodeStrict(data []byte, dst any) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("parsing config YAML: %w", err)
	}
	if len(root.Content) == 0 {
		return nil
	}
	if err := checkKeys(root.Content[0], reflect.TypeOf(dst).Elem(), ""); err != nil {
		return err
	}
	if err := root.Content[0].Decode(dst); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s (line %d): want a mapping of keys, found %s", orRoot(path), n.Line, nodeKind(n))
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			f, ok := fields[k.Value]
			if !ok {
				return fmt.Errorf("%s (line %d): unknown key%s", join(path, k.Value), k.Line, suggest(k.Value, fields))
			}
			if err := checkKeys(v, f.Type, join(path, k.Value)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil
		}
		if n.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s (line %d): want a list, found %s", orRoot(path), n.Line, nodeKind(n))
		}
		for i, c := range n.Content {
			if err := checkKeys(c, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return fmt.Errorf("%s (line %d): want a mapping, found %s", orRoot(path), n.Line, nodeKind(n))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if err := checkKeys(n.Content[i+1], t.Elem(), join(path, n.Content[i].Value)); err != nil {
				return err
			}
		}
	default:
		if n.Kind != yaml.ScalarNode {
			return fmt.Errorf("%s (line %d): want a single value, found %s", orRoot(path), n.Line, nodeKind(n))
		}
		if t == durationType {
			if _, err := time.ParseDuration(n.Value); err != nil {
				return fmt.Errorf("%s (line %d): %q is not a duration: write it like 500ms, 10s or 5m", path, n.Line, n.Value)
			}
			return nil
		}
		if err := checkScalar(n.Value, t); err != nil {
			return fmt.Errorf("%s (line %d): %w", path, n.Line, err)
		}
	}
	return nil
}

func checkScalar(v string, t reflect.Type) error {
	switch t.Kind() {
	case reflect.Int, reflect.Int64, reflect.Int32:
		if _, err := strconv.ParseInt(v, 0, 64); err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		if _, err := strconv.ParseUint(v, 0, t.Bits()); err != nil {
			return fmt.Errorf("%q is not a non-negative integer of %d bits", v, t.Bits())
		}
	case reflect.Bool:
		if _, err := strconv.ParseBool(v); err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
	}
	return nil
}

// setScalar parses v into the settable value f; it is how environment
// overrides land.
func setScalar(f reflect.Value, v string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration: write it like 500ms, 10s or 5m", v)
		}
		f.SetInt(int64(d))
		return nil
	}
	if err := checkScalar(v, f.Type()); err != nil {
		return err
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(v)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, _ := strconv.ParseInt(v, 0, 64)
		f.SetInt(n)
	case reflect.Uint32, reflect.Uint64, reflect.Uint:
		n, _ := strconv.ParseUint(v, 0, 64)
		f.SetUint(n)
	case reflect.Bool:
		b, _ := strconv.ParseBool(v)
		f.SetBool(b)
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		var parts []string
		for _, p := range strings.Split(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts).Convert(f.Type()))
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

func yamlFields(t reflect.Type) map[string]reflect.StructField {
	m := map[string]reflect.StructField{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		m[name] = f
	}
	return m
}

func suggest(key string, fields map[string]reflect.StructField) string {
	best, bestD := "", 4
	names := make([]string, 0, len(fields))
	for k := range fields {
		names = append(names, k)
		if d := editDistance(key, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	sort.Strings(names)
	return fmt.Sprintf(" (known keys: %s)", strings.Join(names, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}

func nodeKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "nothing"
}
