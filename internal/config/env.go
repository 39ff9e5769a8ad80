package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "TIDEMARK_"

// applyEnv sets the fields named by TIDEMARK_* variables. A name is the
// dotted path upper-cased with "_" for "." and list indexes as numbers:
// TIDEMARK_SOURCES_0_PASSWORD, TIDEMARK_REDIS_ADDR, TIDEMARK_API_LISTEN.
// Lists of strings take a comma-separated value. A variable naming no key
// is an error, like an unknown key in the file.
func applyEnv(c *Config, env []string) error {
	leaves := map[string]reflect.Value{}
	collectLeaves(reflect.ValueOf(c).Elem(), "", leaves)
	var unknown []string
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key := strings.TrimPrefix(name, EnvPrefix)
		if isToolVariable(key) {
			continue
		}
		f, ok := leaves[key]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		if err := setScalar(f, value); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%s: no such config key (names look like TIDEMARK_SOURCES_0_PASSWORD; list entries must exist in the file first)", strings.Join(unknown, ", "))
	}
	return nil
}

// isToolVariable exempts variables that configure tooling around the binary
// rather than the service (test stack directories and the like).
func isToolVariable(key string) bool {
	for _, p := range []string{"STACK_", "TEST_", "BENCH_", "DEMO_"} {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	switch key {
	case "CONFIG", "SCRIPTS", "BIN", "ROOT":
		return true
	}
	return false
}

func collectLeaves(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		key := prefix + strings.ToUpper(name)
		fv := v.Field(i)
		switch {
		case fv.Kind() == reflect.Struct && fv.Type() != durationType:
			collectLeaves(fv, key+"_", out)
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Struct:
			for j := 0; j < fv.Len(); j++ {
				collectLeaves(fv.Index(j), key+"_"+strconv.Itoa(j)+"_", out)
			}
		case fv.Kind() == reflect.Map:
			// Maps (batch.partitions) are set in the file only.
		default:
			out[key] = fv
		}
	}
}
