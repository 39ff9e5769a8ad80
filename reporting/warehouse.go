package reporting

import (
	"context"
	"encoding/json"
	"net/http"
)

// WarehouseStatus reports the warehouse targets' load state for
// GET /v1/warehouse: a JSON-encodable value (cmd/tidemark passes
// batch/warehouse's Runner.Status). It must honour ctx.
type WarehouseStatus interface {
	WarehouseStatus(ctx context.Context) any
}

// SetWarehouse makes GET /v1/warehouse answer with w's status. Call it
// before Run or Serve; without it the endpoint answers {"targets": []}
// (no warehouse configured; not a 404, which a browser logs as an error
// on every dashboard refresh).
func (s *Server) SetWarehouse(w WarehouseStatus) { s.warehouse = w }

// handleWarehouse answers {"targets": [...]}: per target its state
// (loading, loaded, failed and why), the generation it holds beside the
// lake's newest, rows, bytes and duration of the latest load.
func (s *Server) handleWarehouse(w http.ResponseWriter, r *http.Request) {
	for name := range r.URL.Query() {
		writeError(w, badParam(name, "GET /v1/warehouse takes no parameters"))
		return
	}
	var targets any = []any{}
	if s.warehouse != nil {
		targets = s.warehouse.WarehouseStatus(r.Context())
	}
	b, err := json.Marshal(map[string]any{"targets": targets})
	if err != nil {
		writeError(w, &apiError{Status: http.StatusInternalServerError, Msg: "encoding the warehouse status: " + err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n'))
}
