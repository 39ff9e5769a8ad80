package reporting

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// JobsAdmin is what the admin routes need of the orchestrator: the jobs'
// status and history as JSON-ready values, and the steering actions. A
// name that is no job is an error wrapping ErrUnknownJob.
type JobsAdmin interface {
	Jobs(ctx context.Context) (any, error)
	History(ctx context.Context, job string, n int) (any, error)
	Trigger(ctx context.Context, job string) (any, error)
	Pause(ctx context.Context, job string) error
	Resume(ctx context.Context, job string) error
	// PauseAll and ResumeAll act on every job.
	PauseAll(ctx context.Context) error
	ResumeAll(ctx context.Context) error
}

// ErrUnknownJob: the admin route names no configured job (404).
var ErrUnknownJob = errors.New("unknown job")

// SetJobs serves the admin routes (/v1/admin/jobs...) from j; before it
// (or with nil) they answer 503. Safe to call while serving.
func (s *Server) SetJobs(j JobsAdmin) {
	if j == nil {
		s.jobs.Store(nil)
		return
	}
	s.jobs.Store(&j)
}

// adminRoutes registers the admin routes. They need an admin-scope token
// always: 401 without a token, 403 with a read token, and 403 when no
// tokens are configured at all (steering is never open to anyone).
func (s *Server) adminRoutes(mux *http.ServeMux) {
	admin := func(h func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error)) http.Handler {
		inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			jp := s.jobs.Load()
			if jp == nil {
				writeError(w, &apiError{Status: http.StatusServiceUnavailable, Msg: "no orchestrator in this process: run `tidemark run` with the batch role and jobs configured"})
				return
			}
			v, err := h(w, r, *jp)
			switch {
			case errors.Is(err, ErrUnknownJob):
				writeError(w, &apiError{Status: http.StatusNotFound, Msg: err.Error()})
				return
			case errors.Is(err, errBadParam):
				writeError(w, &apiError{Status: http.StatusBadRequest, Param: "n", Msg: err.Error()})
				return
			case err != nil:
				writeError(w, &apiError{Status: http.StatusInternalServerError, Msg: err.Error()})
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			if r.Method == http.MethodPost {
				w.WriteHeader(http.StatusAccepted)
			}
			_ = json.NewEncoder(w).Encode(v)
		})
		if len(s.cfg.Tokens) == 0 {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeError(w, &apiError{Status: http.StatusForbidden, Param: "Authorization",
					Msg: "admin routes need an admin-scope token: configure api.tokens with scope admin"})
			})
		}
		return s.auth(ScopeAdmin, s.deadline(inner))
	}
	ok := map[string]string{"status": "ok"}
	mux.Handle("GET /v1/admin/jobs", admin(func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error) {
		return j.Jobs(r.Context())
	}))
	mux.Handle("GET /v1/admin/jobs/{name}/history", admin(func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error) {
		n := 50
		if v := r.URL.Query().Get("n"); v != "" {
			var err error
			if n, err = strconv.Atoi(v); err != nil || n < 1 || n > 10000 {
				return nil, fmt.Errorf("%w: n=%q: want 1..10000", errBadParam, v)
			}
		}
		return j.History(r.Context(), r.PathValue("name"), n)
	}))
	mux.Handle("POST /v1/admin/jobs/{name}/trigger", admin(func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error) {
		return j.Trigger(r.Context(), r.PathValue("name"))
	}))
	mux.Handle("POST /v1/admin/jobs/{name}/pause", admin(func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error) {
		return ok, j.Pause(r.Context(), r.PathValue("name"))
	}))
	mux.Handle("POST /v1/admin/jobs/{name}/resume", admin(func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error) {
		return ok, j.Resume(r.Context(), r.PathValue("name"))
	}))
	mux.Handle("POST /v1/admin/jobs/pause", admin(func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error) {
		return ok, j.PauseAll(r.Context())
	}))
	mux.Handle("POST /v1/admin/jobs/resume", admin(func(w http.ResponseWriter, r *http.Request, j JobsAdmin) (any, error) {
		return ok, j.ResumeAll(r.Context())
	}))
	// The actions are POST only; a GET of them says so instead of "no
	// route".
	for _, p := range []string{"/v1/admin/jobs/{name}/trigger", "/v1/admin/jobs/{name}/pause", "/v1/admin/jobs/{name}/resume",
		"/v1/admin/jobs/pause", "/v1/admin/jobs/resume"} {
		mux.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", "POST")
			writeError(w, &apiError{Status: http.StatusMethodNotAllowed, Msg: fmt.Sprintf("%s is an action: POST it (with an admin token)", r.URL.Path)})
		})
	}
}

// adminOpenAPIPaths are the admin routes openapi.go documents.
var adminOpenAPIPaths = []string{"/v1/admin/jobs", "/v1/admin/jobs/{name}/history", "/v1/admin/jobs/{name}/trigger",
	"/v1/admin/jobs/{name}/pause", "/v1/admin/jobs/{name}/resume", "/v1/admin/jobs/pause", "/v1/admin/jobs/resume"}

var errBadParam = errors.New("bad parameter")

// adminOpenAPI documents the admin routes for openapi.go.
func adminOpenAPI(errResp func(string) obj) map[string]obj {
	sec := []obj{{"bearer": []string{}}}
	name := obj{"name": "name", "in": "path", "required": true, "description": "The job.", "schema": obj{"type": "string"}}
	common := obj{
		"401": errResp("Missing or unknown bearer token."),
		"403": errResp("The token lacks admin scope, or no tokens are configured."),
		"503": errResp("No orchestrator in this process."),
	}
	resp := func(code, desc string, extra obj) obj {
		r := obj{code: obj{"description": desc, "content": obj{"application/json": obj{"schema": obj{"type": "object"}}}}}
		for k, v := range common {
			r[k] = v
		}
		for k, v := range extra {
			r[k] = v
		}
		return r
	}
	unknown := obj{"404": errResp("No job of that name.")}
	post := func(summary string, params []obj) obj {
		return obj{"post": obj{"summary": summary, "parameters": params, "security": sec, "responses": resp("202", "Done or queued.", unknown)}}
	}
	return map[string]obj{
		"/v1/admin/jobs": {"get": obj{"summary": "Every job's status: pause, lease holder, last and next tick, last run (docs/orchestrator.md).",
			"security": sec, "responses": resp("200", "The jobs.", nil)}},
		"/v1/admin/jobs/{name}/history": {"get": obj{"summary": "The job's run records, newest first.", "security": sec,
			"parameters": []obj{name, {"name": "n", "in": "query", "description": "Records, 1..10000 (default 50).", "schema": obj{"type": "integer"}}},
			"responses":  resp("200", "The records.", unknown)}},
		"/v1/admin/jobs/{name}/trigger": post("Queue a run of the job now.", []obj{name}),
		"/v1/admin/jobs/{name}/pause":   post("Pause the job (held in Redis, across restarts).", []obj{name}),
		"/v1/admin/jobs/{name}/resume":  post("Resume the job.", []obj{name}),
		"/v1/admin/jobs/pause":          post("Pause every job.", nil),
		"/v1/admin/jobs/resume":         post("Resume every job.", nil),
	}
}
