package reporting

import (
	"encoding/json"
	"net/http"
)

// openAPIPaths are the documented routes; TestOpenAPICoversRoutes holds
// them against the mux.
var openAPIPaths = []string{
	"/v1/views", "/v1/views/{name}", "/v1/tables/{table}/rows/{pk}",
	"/openapi.json", "/metrics", "/livez", "/readyz", "/", "/v1/warehouse",
}

// handleOpenAPI serves an OpenAPI 3.0 description of every route, with the
// configured view names as the {name} enum.
func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(s.openAPI())
}

type obj = map[string]any

func (s *Server) openAPI() obj {
	ref := func(name string) obj { return obj{"$ref": "#/components/schemas/" + name} }
	errResp := func(desc string) obj {
		return obj{"description": desc, "content": obj{"application/json": obj{"schema": ref("Error")}}}
	}
	param := func(name, in, desc string, schema obj) obj {
		return obj{"name": name, "in": in, "description": desc, "required": in == "path", "schema": schema}
	}
	str := obj{"type": "string"}
	formatParam := param("format", "query", "json (default), csv, arrow (Arrow IPC stream) or gviz (Google Visualization DataTable). Also chosen by Accept: text/csv, application/vnd.apache.arrow.stream.",
		obj{"type": "string", "enum": []string{"json", "csv", "arrow", "gviz"}})
	answer := obj{
		"200": obj{"description": "The answer; ETag names the state it reflects.",
			"headers": obj{
				"ETag":                  obj{"schema": str, "description": "From (generation, speed position)."},
				"X-Tidemark-Generation": obj{"schema": obj{"type": "integer"}},
				"X-Tidemark-Lag-Ms":     obj{"schema": obj{"type": "integer"}},
			},
			"content": obj{
				"application/json":                    obj{"schema": ref("Answer")},
				"text/csv":                            obj{"schema": str},
				"application/vnd.apache.arrow.stream": obj{"schema": obj{"type": "string", "format": "binary"}},
			}},
		"304": obj{"description": "Not modified (If-None-Match matched the current ETag)."},
		"400": errResp("A bad parameter; param names it."),
		"401": errResp("Missing or unknown bearer token."),
		"404": errResp("Unknown view, table or row."),
		"503": errResp("The view has no published state yet."),
	}
	viewNames := make([]string, len(s.catalog.names))
	copy(viewNames, s.catalog.names)
	security := []obj{}
	if len(s.cfg.Tokens) > 0 {
		security = []obj{{"bearer": []string{}}}
	}
	get := func(summary string, params []obj, responses obj) obj {
		return obj{"get": obj{"summary": summary, "parameters": params, "responses": responses, "security": security}}
	}
	open := func(summary, ctype string) obj {
		return obj{"get": obj{"summary": summary, "security": []obj{}, "responses": obj{
			"200": obj{"description": "OK", "content": obj{ctype: obj{"schema": str}}}}}}
	}
	adminOps := adminOpenAPI(errResp)
	metricsOp := get("Prometheus metrics (admin scope when tokens are configured).", nil,
		obj{"200": obj{"description": "Prometheus text format", "content": obj{"text/plain": obj{"schema": str}}}, "403": errResp("Token lacks admin scope.")})
	return obj{
		"openapi": "3.0.3",
		"info": obj{"title": "Tidemark reporting API", "version": "1",
			"description": "Views answered as batch ⊕ speed with their freshness. See docs/api.md."},
		"paths": obj{
			"/v1/views": get("List views with their columns and types.", nil, obj{
				"200": obj{"description": "The views", "content": obj{"application/json": obj{"schema": ref("ViewList")}}},
				"401": errResp("Missing or unknown bearer token.")}),
			"/v1/views/{name}": get("A view's current answer, filtered, joined, re-aggregated, ordered and paged; a mirror without primary-key filters is listed in key order, keyset-paged by after.", []obj{
				param("name", "path", "The view.", obj{"type": "string", "enum": viewNames}),
				param("{col}", "query", "Equality filter on a group key (or joined <mirror>.<col>); repeat for IN. {col}.eq is the same (for columns named like a parameter).", str),
				param("{col}.from", "query", "Inclusive lower bound.", str),
				param("{col}.to", "query", "Inclusive upper bound.", str),
				param("{col}.null", "query", "true: only NULL; false: only non-NULL.", obj{"type": "boolean"}),
				param("join", "query", "<mirror>:<key>[,<key>...]: adds the mirror's current row as <mirror>.<col> columns.", str),
				param("group_by", "query", "Re-aggregate to these keys (comma-separated or repeated; empty: one total row). Measures are recomputed from merged states.", str),
				param("order", "query", "Columns, comma-separated; -col for descending. Default: key columns ascending.", str),
				param("limit", "query", "Rows to return; default "+itoa(s.cfg.DefaultRows)+", at most "+itoa(s.cfg.MaxRows)+".", obj{"type": "integer", "minimum": 0, "maximum": s.cfg.MaxRows}),
				param("offset", "query", "Rows to skip.", obj{"type": "integer", "minimum": 0}),
				param("after", "query", "Mirror listings: start after this primary key (once per key column, in key order); the answer's next link sets it.", str),
				formatParam,
			}, answer),
			"/v1/tables/{table}/rows/{pk}": get("One mirrored row by primary key.", []obj{
				param("table", "path", "db.table of a mirrored table.", str),
				param("pk", "path", "Primary key values in key order, comma-separated (a comma inside a value is %2C).", str),
				formatParam,
			}, answer),
			"/openapi.json": get("This document.", nil, obj{"200": obj{"description": "OpenAPI 3.0", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}),
			"/v1/warehouse": get("Each warehouse target's load state (loading, loaded, failed and why), the generation it holds beside the lake's newest, and its latest load's rows, bytes and duration; no targets when none is configured.", nil,
				obj{"200": obj{"description": "{\"targets\": [...]}", "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}),
			"/metrics": metricsOp,
			"/livez":   open("200 while the process serves.", "text/plain"),
			"/readyz":  open("200 once bootstrapped and streaming, else 503 with the reason.", "text/plain"),
			"/":        open("The dashboard (static HTML, no external resources).", "text/html"),
			// admin.go: the orchestrator's jobs.
			"/v1/admin/jobs":                adminOps["/v1/admin/jobs"],
			"/v1/admin/jobs/{name}/history": adminOps["/v1/admin/jobs/{name}/history"],
			"/v1/admin/jobs/{name}/trigger": adminOps["/v1/admin/jobs/{name}/trigger"],
			"/v1/admin/jobs/{name}/pause":   adminOps["/v1/admin/jobs/{name}/pause"],
			"/v1/admin/jobs/{name}/resume":  adminOps["/v1/admin/jobs/{name}/resume"],
			"/v1/admin/jobs/pause":          adminOps["/v1/admin/jobs/pause"],
			"/v1/admin/jobs/resume":         adminOps["/v1/admin/jobs/resume"],
		},
		"components": obj{
			"securitySchemes": obj{"bearer": obj{"type": "http", "scheme": "bearer"}},
			"schemas": obj{
				"Error": obj{"type": "object", "required": []string{"error", "status"}, "properties": obj{
					"error": str, "param": str, "status": obj{"type": "integer"}}},
				"Column": obj{"type": "object", "properties": obj{"name": str, "type": str, "key": obj{"type": "boolean"}}},
				"Freshness": obj{"type": "object", "properties": obj{
					"generation":     obj{"type": "integer"},
					"cut":            obj{"type": "string", "nullable": true, "description": "Binlog position file:offset:row[@gtid] of the generation's cut."},
					"cut_time":       obj{"type": "string", "format": "date-time", "nullable": true},
					"speed_position": obj{"type": "string", "nullable": true, "description": "The speed layer's checkpoint."},
					"lag_ms":         obj{"type": "integer", "nullable": true, "description": "Now minus the source commit time of the last applied transaction, as precisely as lag_source says."},
					"lag_source": obj{"type": "string", "nullable": true, "enum": []string{"heartbeat_us", "commit_time_us", "receive", "commit_time_s"},
						"description": "How that commit time was measured: the heartbeat row's microseconds, MySQL 8's immediate_commit_timestamp, the receive time while caught up (replication delay), or the binlog's whole seconds (over-states lag_ms by up to 1 s)."},
					"mirrors": obj{"type": "object", "description": "Joined mirrors' freshness, by name.", "additionalProperties": obj{"type": "object"}},
				}},
				"Answer": obj{"type": "object", "properties": obj{
					"view":      str,
					"table":     str,
					"columns":   obj{"type": "array", "items": ref("Column")},
					"rows":      obj{"type": "array", "items": obj{"type": "object", "description": "column name → value: integers as numbers, DECIMAL as strings, NULL as null."}},
					"next":      obj{"type": "string", "description": "Mirror listings: the path and query of the next page, when more rows follow (also a Link header with rel=\"next\")."},
					"freshness": ref("Freshness"),
				}},
				"ViewList": obj{"type": "object", "properties": obj{"views": obj{"type": "array", "items": obj{"type": "object", "properties": obj{
					"name": str, "kind": obj{"type": "string", "enum": []string{"aggregate", "mirror"}}, "from": str,
					"columns": obj{"type": "array", "items": ref("Column")}}}}}},
			},
		},
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
