package reporting

import (
	"context"
	"encoding/json"
	"testing"
)

type fakeWarehouse struct{}

func (fakeWarehouse) WarehouseStatus(ctx context.Context) any {
	return []map[string]any{{"target": "pg", "phase": "loaded", "loaded_generation": 7}}
}

func TestWarehouseEndpoint(t *testing.T) {
	f := newFixture(t, Config{})
	if r := f.get(t, "/v1/warehouse"); r.code != 200 || string(r.body) != "{\"targets\":[]}\n" {
		t.Fatalf("without a warehouse: %d %s", r.code, r.body)
	}
	f.srv.SetWarehouse(fakeWarehouse{})
	r := f.get(t, "/v1/warehouse")
	var got struct {
		Targets []struct {
			Target string `json:"target"`
			Loaded int    `json:"loaded_generation"`
		} `json:"targets"`
	}
	if r.code != 200 || json.Unmarshal(r.body, &got) != nil || len(got.Targets) != 1 || got.Targets[0].Loaded != 7 {
		t.Fatalf("/v1/warehouse: %d %s", r.code, r.body)
	}
	if r := f.get(t, "/v1/warehouse?x=1"); r.code != 400 {
		t.Fatalf("a parameter: %d", r.code)
	}
}

// fixtureWarehouse is the dashboard fixture's warehouse: one target in
// step, one behind and failing.
type fixtureWarehouse struct{}

func (fixtureWarehouse) WarehouseStatus(ctx context.Context) any {
	return []map[string]any{
		{"target": "reporting", "kind": "postgres", "phase": "loaded", "generation": 1, "lake_generation": 1, "behind": false,
			"current": map[string]any{"generation": 1}},
		{"target": "analytics", "kind": "redshift", "phase": "failed", "generation": 1, "lake_generation": 1, "behind": true,
			"error": "target unavailable: dial tcp 10.0.0.7:5439: i/o timeout", "current": map[string]any{"generation": 0}},
	}
}
