// Package gluefake is an in-memory stand-in for the AWS Glue Data Catalog,
// for tests: an HTTP server speaking Glue's JSON 1.1 protocol (POST /,
// X-Amz-Target: AWSGlue.<Operation>) for the operations Tidemark's Glue
// sync uses: GetDatabase, CreateDatabase, GetTable, CreateTable,
// UpdateTable and DeleteTable.
//
// Like Glue, it refuses a request without a SigV4 Authorization header for
// the service "glue"; when Options names a secret key it also verifies the
// signature, so a test proves the client really signs with the configured
// credentials. Errors are Glue's (EntityNotFoundException,
// AlreadyExistsException, ConcurrentModificationException for a stale
// UpdateTable VersionId, InternalServiceException), so the SDK decodes them
// into its typed errors. Real Glue is not reachable from the test machines;
// this server is what the sync is tested against.
package gluefake

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// Options configure a Server.
type Options struct {
	// AccessKeyID, when set, is the only access key accepted.
	AccessKeyID string
	// SecretAccessKey, when set, makes the server verify each request's
	// signature with it.
	SecretAccessKey string
}

// Server is a running fake catalog. Its methods are safe for concurrent
// use.
type Server struct {
	// URL is the endpoint to configure the client with (http://127.0.0.1:PORT).
	URL string

	o   Options
	srv *httptest.Server

	mu      sync.Mutex
	dbs     map[string]map[string]any            // name -> Database
	tables  map[string]map[string]map[string]any // db -> name -> Table
	calls   map[string]int
	failing map[string]bool
	refused int
}

// New starts a Server on a loopback port; Close stops it.
func New(o Options) *Server {
	s := &Server{o: o, dbs: map[string]map[string]any{}, tables: map[string]map[string]map[string]any{},
		calls: map[string]int{}, failing: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Calls returns how many signed requests of the operation (e.g.
// "UpdateTable") the server answered, failures included.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Refused returns how many requests were refused for their signature.
func (s *Server) Refused() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}

// Fail makes the operations answer 500 InternalServiceException until
// Fail is called again; "*" means every operation, none clears.
func (s *Server) Fail(ops ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = map[string]bool{}
	for _, op := range ops {
		s.failing[op] = true
	}
}

// Column is a column of a Table.
type Column struct {
	Name string
	Type string
}

// Table is the part of a stored table tests look at.
type Table struct {
	Name              string
	DatabaseName      string
	TableType         string
	Parameters        map[string]string
	PartitionKeys     []Column
	VersionId         string
	StorageDescriptor struct {
		Location     string
		Columns      []Column
		InputFormat  string
		OutputFormat string
		SerdeInfo    struct{ SerializationLibrary string }
	}
}

// Table returns the stored table db.name.
func (s *Server) Table(db, name string) (Table, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	raw, ok := s.tables[db][name]
	if !ok {
		return Table{}, false
	}
	b, _ := json.Marshal(raw)
	var t Table
	_ = json.Unmarshal(b, &t)
	return t, true
}

// Tables returns the names of db's tables.
func (s *Server) Tables(db string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for n := range s.tables[db] {
		out = append(out, n)
	}
	return out
}

// HasDatabase reports whether the database exists.
func (s *Server) HasDatabase(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.dbs[name]
	return ok
}

// glueError is an error answer in the JSON 1.1 protocol's shape.
type glueError struct {
	status int
	typ    string
	msg    string
}

func errorf(status int, typ, format string, args ...any) *glueError {
	return &glueError{status, typ, fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, errorf(400, "InvalidInputException", "reading body: %v", err))
		return
	}
	if err := s.checkSignature(r, body); err != nil {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		writeError(w, err)
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "AWSGlue.")
	if r.Method != http.MethodPost || !ok {
		writeError(w, errorf(400, "UnknownOperationException", "want POST with X-Amz-Target: AWSGlue.<Operation>"))
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, errorf(400, "SerializationException", "decoding body: %v", err))
		return
	}
	s.mu.Lock()
	s.calls[op]++
	failing := s.failing[op] || s.failing["*"]
	s.mu.Unlock()
	if failing {
		writeError(w, errorf(500, "InternalServiceException", "gluefake: %s failing on purpose", op))
		return
	}
	var out any
	var gerr *glueError
	s.mu.Lock()
	switch op {
	case "GetDatabase":
		out, gerr = s.getDatabase(in)
	case "CreateDatabase":
		out, gerr = s.createDatabase(in)
	case "GetTable":
		out, gerr = s.getTable(in)
	case "CreateTable":
		out, gerr = s.createTable(in)
	case "UpdateTable":
		out, gerr = s.updateTable(in)
	case "DeleteTable":
		out, gerr = s.deleteTable(in)
	default:
		gerr = errorf(400, "UnknownOperationException", "gluefake does not implement %s", op)
	}
	s.mu.Unlock()
	if gerr != nil {
		writeError(w, gerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, e *glueError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.typ, "Message": e.msg})
}

// checkSignature refuses requests Glue would refuse for their
// authentication: unsigned, signed for another service, with another
// access key, or (given the secret) with a wrong signature.
func (s *Server) checkSignature(r *http.Request, body []byte) *glueError {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !ok {
		return errorf(403, "MissingAuthenticationTokenException", "request is not signed with AWS Signature Version 4")
	}
	fields := map[string]string{}
	for _, f := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		return errorf(403, "IncompleteSignatureException", "malformed Authorization header %q", auth)
	}
	ak, region, service := scope[0], scope[2], scope[3]
	if service != "glue" {
		return errorf(403, "InvalidSignatureException", "credential scope names service %q, want glue", service)
	}
	if s.o.AccessKeyID != "" && ak != s.o.AccessKeyID {
		return errorf(403, "UnrecognizedClientException", "the security token included in the request is invalid (access key %q)", ak)
	}
	if s.o.SecretAccessKey == "" {
		return nil
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return errorf(403, "IncompleteSignatureException", "missing or malformed X-Amz-Date")
	}
	// Re-sign a copy carrying only the headers the client signed; the
	// signatures agree exactly when the client used the same secret.
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return errorf(400, "InvalidInputException", "%v", err)
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: ak, SecretAccessKey: s.o.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		return errorf(500, "InternalServiceException", "re-signing: %v", err)
	}
	if !strings.HasSuffix(req.Header.Get("Authorization"), "Signature="+fields["Signature"]) {
		return errorf(403, "InvalidSignatureException", "the request signature does not match (wrong secret access key?)")
	}
	return nil
}

func str(in map[string]any, key string) string {
	v, _ := in[key].(string)
	return v
}

func now() float64 { return float64(time.Now().UnixMilli()) / 1000 }

func (s *Server) getDatabase(in map[string]any) (any, *glueError) {
	db, ok := s.dbs[str(in, "Name")]
	if !ok {
		return nil, errorf(400, "EntityNotFoundException", "Database %s not found.", str(in, "Name"))
	}
	return map[string]any{"Database": db}, nil
}

func (s *Server) createDatabase(in map[string]any) (any, *glueError) {
	di, _ := in["DatabaseInput"].(map[string]any)
	name := str(di, "Name")
	if name == "" {
		return nil, errorf(400, "InvalidInputException", "DatabaseInput.Name is required")
	}
	if _, ok := s.dbs[name]; ok {
		return nil, errorf(400, "AlreadyExistsException", "Database already exists.")
	}
	db := map[string]any{"CreateTime": now()}
	for k, v := range di {
		db[k] = v
	}
	s.dbs[name] = db
	s.tables[name] = map[string]map[string]any{}
	return map[string]any{}, nil
}

func (s *Server) getTable(in map[string]any) (any, *glueError) {
	db, name := str(in, "DatabaseName"), str(in, "Name")
	if _, ok := s.dbs[db]; !ok {
		return nil, errorf(400, "EntityNotFoundException", "Database %s not found.", db)
	}
	t, ok := s.tables[db][name]
	if !ok {
		return nil, errorf(400, "EntityNotFoundException", "Table %s not found.", name)
	}
	return map[string]any{"Table": t}, nil
}

func (s *Server) createTable(in map[string]any) (any, *glueError) {
	db := str(in, "DatabaseName")
	ti, _ := in["TableInput"].(map[string]any)
	name := str(ti, "Name")
	if _, ok := s.dbs[db]; !ok {
		return nil, errorf(400, "EntityNotFoundException", "Database %s not found.", db)
	}
	if name == "" {
		return nil, errorf(400, "InvalidInputException", "TableInput.Name is required")
	}
	if _, ok := s.tables[db][name]; ok {
		return nil, errorf(400, "AlreadyExistsException", "Table already exists.")
	}
	s.tables[db][name] = stored(ti, db, "1", now())
	return map[string]any{}, nil
}

func (s *Server) updateTable(in map[string]any) (any, *glueError) {
	db := str(in, "DatabaseName")
	ti, _ := in["TableInput"].(map[string]any)
	name := str(ti, "Name")
	if _, ok := s.dbs[db]; !ok {
		return nil, errorf(400, "EntityNotFoundException", "Database %s not found.", db)
	}
	old, ok := s.tables[db][name]
	if !ok {
		return nil, errorf(400, "EntityNotFoundException", "Table %s not found.", name)
	}
	version := str(old, "VersionId")
	if v := str(in, "VersionId"); v != "" && v != version {
		return nil, errorf(400, "ConcurrentModificationException", "table %s is at version %s, not %s", name, version, v)
	}
	n, _ := strconv.Atoi(version)
	created, _ := old["CreateTime"].(float64)
	s.tables[db][name] = stored(ti, db, strconv.Itoa(n+1), created)
	return map[string]any{}, nil
}

func (s *Server) deleteTable(in map[string]any) (any, *glueError) {
	db, name := str(in, "DatabaseName"), str(in, "Name")
	if _, ok := s.tables[db][name]; !ok {
		return nil, errorf(400, "EntityNotFoundException", "Table %s not found.", name)
	}
	delete(s.tables[db], name)
	return map[string]any{}, nil
}

// stored is a Table as GetTable returns it: the input plus what Glue adds.
func stored(ti map[string]any, db, version string, created float64) map[string]any {
	t := map[string]any{}
	for k, v := range ti {
		t[k] = v
	}
	t["DatabaseName"] = db
	t["VersionId"] = version
	t["CreateTime"] = created
	t["UpdateTime"] = now()
	return t
}
