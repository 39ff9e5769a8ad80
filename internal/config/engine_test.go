package config

import (
	"strings"
	"testing"
)

func TestBatchEngine(t *testing.T) {
	c, err := Parse([]byte(whGood), nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Batch.Engine != EngineLocal || c.EngineTarget() != nil {
		t.Fatalf("default engine %q, target %v", c.Batch.Engine, c.EngineTarget())
	}
	c, err = Parse([]byte(whGood), []string{"TIDEMARK_BATCH_ENGINE=postgres", "TIDEMARK_BATCH_ENGINE_TARGET=reporting"})
	if err != nil {
		t.Fatal(err)
	}
	if w := c.EngineTarget(); w == nil || w.Name != "reporting" || w.Kind != "postgres" {
		t.Fatalf("engine target %+v", w)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"TIDEMARK_BATCH_ENGINE=spark"}, `batch.engine: "spark": want local, postgres or redshift`},
		{[]string{"TIDEMARK_BATCH_ENGINE=postgres"}, "batch.engine_target: required with batch.engine postgres"},
		{[]string{"TIDEMARK_BATCH_ENGINE=postgres", "TIDEMARK_BATCH_ENGINE_TARGET=nope"}, `batch.engine_target: "nope": no warehouse target has that name`},
		{[]string{"TIDEMARK_BATCH_ENGINE=redshift", "TIDEMARK_BATCH_ENGINE_TARGET=reporting"}, `batch.engine_target: "reporting" is a postgres target, but batch.engine is redshift`},
		{[]string{"TIDEMARK_BATCH_ENGINE_TARGET=rs"}, `batch.engine_target: "rs": set only with batch.engine postgres or redshift`},
	} {
		_, err := Parse([]byte(whGood), tc.env)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.env, err, tc.want)
		}
	}
}
