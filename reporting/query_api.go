package reporting

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// QueryError is a refused Query: what the API would answer with Status.
type QueryError struct {
	Status int
	Param  string // the offending parameter, if any
	Msg    string
}

func (e *QueryError) Error() string { return e.Msg }

// Query answers GET /v1/views/{view}?<params> exactly as the API does and
// writes the body to w: what `tidemark query` prints. params take the
// API's query parameters (format= picks json, csv, arrow or gviz). Bearer
// tokens do not apply (the caller is local); a refused request returns a
// *QueryError carrying the API's status and message.
func (s *Server) Query(ctx context.Context, view string, params url.Values, w io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "/v1/views/"+url.PathEscape(view)+"?"+params.Encode(), nil)
	if err != nil {
		return fmt.Errorf("building query of view %s: %w", view, err)
	}
	req.SetPathValue("name", view)
	rec := &bufferWriter{hdr: http.Header{}, code: http.StatusOK}
	s.limit(http.HandlerFunc(s.handleView)).ServeHTTP(rec, req)
	if rec.code != http.StatusOK {
		var e struct {
			Error string `json:"error"`
			Param string `json:"param"`
		}
		if json.Unmarshal(rec.buf.Bytes(), &e) != nil || e.Error == "" {
			e.Error = rec.buf.String()
		}
		return &QueryError{Status: rec.code, Param: e.Param, Msg: e.Error}
	}
	_, err = w.Write(rec.buf.Bytes())
	return err
}

// bufferWriter is an in-memory http.ResponseWriter.
type bufferWriter struct {
	hdr  http.Header
	code int
	buf  bytes.Buffer
}

func (b *bufferWriter) Header() http.Header         { return b.hdr }
func (b *bufferWriter) Write(p []byte) (int, error) { return b.buf.Write(p) }
func (b *bufferWriter) WriteHeader(code int)        { b.code = code }
