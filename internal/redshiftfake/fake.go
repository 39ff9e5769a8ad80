// Package redshiftfake is a local stand-in for the Amazon Redshift Data
// API, for tests: an HTTP server speaking the service's JSON 1.1 protocol
// (POST /, X-Amz-Target: RedshiftData.<Operation>) for ExecuteStatement,
// BatchExecuteStatement, DescribeStatement, GetStatementResult and
// CancelStatement, that runs the statements on a real PostgreSQL.
//
// # Model
//
// Statements run asynchronously, as on the service: a call returns an Id
// at once, the statement goes SUBMITTED, STARTED, then FINISHED or FAILED
// (with the cluster's message in Error), and the client polls
// DescribeStatement. A BatchExecuteStatement runs its statements in one
// PostgreSQL transaction: when one fails, all are rolled back, the batch is
// FAILED, the failing sub-statement ("<id>:N") is FAILED with its error and
// the ones after it ABORTED.
//
// The few Redshift-only parts of the SQL Tidemark emits are translated
// (translate.go): DISTKEY/SORTKEY/DISTSTYLE are dropped, WITH NO SCHEMA
// BINDING is dropped, VARCHAR(n) and VARBYTE(n) become domains that hold
// at most n BYTES (Redshift's lengths are bytes, PostgreSQL's characters),
// and Redshift's limits are enforced (VARCHAR ≤ 65,535, VARBYTE ≤
// 16,777,216, DECIMAL precision ≤ 38). TRUNCATE, VACUUM and ALTER TABLE
// APPEND are refused inside a batch: on Redshift they commit (or cannot
// run in) the transaction, which would break the batch's atomicity.
//
// COPY ... FROM 's3://.../manifest' IAM_ROLE '...' FORMAT AS PARQUET
// MANIFEST is emulated (copy.go): the manifest is read from S3 (MinIO), its
// entries must carry meta.content_length equal to each object's size, and
// each Parquet file is loaded under Redshift's COPY rules: columns by
// position and count, physical and logical types that Redshift accepts for
// the target column (INT64 into BIGINT only, no unsigned 64-bit, DECIMAL
// of the same scale, timestamps, dates, strings into VARCHAR, binary into
// VARBYTE), byte limits, NOT NULL and valid UTF-8. A refused value fails
// the COPY and leaves a row in sys_load_error_detail (kept outside the
// rolled-back transaction, as Redshift keeps it), queryable by the
// statement's RedshiftQueryId.
//
// Like the service, it refuses a request without a SigV4 signature for
// "redshift-data"; given the secret key it verifies the signature.
// InjectSerializationFailures makes the next commits fail with Redshift's
// error 1023, to test retries.
package redshiftfake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Options configure a Server.
type Options struct {
	// PostgresDSN is the database the statements run on.
	PostgresDSN string
	// S3 reads COPY's manifests and Parquet files (s3://bucket/key).
	S3 *s3.Client
	// AccessKeyID, when set, is the only access key accepted;
	// SecretAccessKey, when set, makes the server verify signatures.
	AccessKeyID, SecretAccessKey string
	// IAMRole, when set, is the only role COPY may name.
	IAMRole string
	// StartDelay keeps each statement SUBMITTED this long before it runs,
	// so clients must poll. 0 means 20ms.
	StartDelay time.Duration
}

// Server is a running stand-in. Its methods are safe for concurrent use.
type Server struct {
	// URL is the endpoint for the client (http://127.0.0.1:PORT).
	URL string

	o    Options
	srv  *httptest.Server
	pool *pgxpool.Pool

	mu         sync.Mutex
	statements map[string]*statement
	calls      map[string]int
	refused    int
	fail1023   int
	queryID    int64
	log        []string
	batches    [][]string
}

// New starts a Server; Close stops it.
func New(ctx context.Context, o Options) (*Server, error) {
	if o.StartDelay <= 0 {
		o.StartDelay = 20 * time.Millisecond
	}
	cfg, err := pgxpool.ParseConfig(o.PostgresDSN)
	if err != nil {
		return nil, fmt.Errorf("redshiftfake: %w", err)
	}
	// Redshift sessions are in UTC.
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("redshiftfake: connecting to PostgreSQL: %w", err)
	}
	for _, q := range []string{
		"CREATE SCHEMA IF NOT EXISTS " + domainSchema,
		`CREATE TABLE IF NOT EXISTS public.sys_load_error_detail (
			user_id integer, query_id bigint, transaction_id bigint, session_id integer,
			database_name char(64), table_id integer, start_time timestamp, file_name char(256),
			line_number bigint, column_name char(127), column_type char(10), column_length char(10),
			position integer, error_code integer, error_message char(512))`,
	} {
		if _, err := pool.Exec(ctx, q); err != nil {
			pool.Close()
			return nil, fmt.Errorf("redshiftfake: preparing PostgreSQL: %w", err)
		}
	}
	s := &Server{o: o, pool: pool, statements: map[string]*statement{}, calls: map[string]int{}, queryID: 1000}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server and waits for running statements.
func (s *Server) Close() {
	s.srv.Close()
	s.mu.Lock()
	var running []*statement
	for _, st := range s.statements {
		running = append(running, st)
	}
	s.mu.Unlock()
	for _, st := range running {
		<-st.done
	}
	s.pool.Close()
}

// Calls returns how many signed requests of the operation the server
// answered.
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

// InjectSerializationFailures makes the next n statements or batches fail
// at their commit with Redshift's serializable isolation error 1023,
// rolled back.
func (s *Server) InjectSerializationFailures(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail1023 = n
}

// Executed returns the SQL of every statement run so far (as received,
// before translation), in order of their start.
func (s *Server) Executed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

// Batches returns the statements of every BatchExecuteStatement run so
// far, batch by batch.
func (s *Server) Batches() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]string(nil), s.batches...)
}

// Status values of statements.
const (
	statusSubmitted = "SUBMITTED"
	statusStarted   = "STARTED"
	statusFinished  = "FINISHED"
	statusFailed    = "FAILED"
	statusAborted   = "ABORTED"
)

// statement is one ExecuteStatement, or one BatchExecuteStatement with its
// sub-statements.
type statement struct {
	id        string
	sqls      []string
	batch     bool
	database  string
	created   time.Time
	cancelled bool
	done      chan struct{}

	// Guarded by Server.mu.
	status  string
	err     string
	updated time.Time
	subs    []*subStatement
}

type subStatement struct {
	sql       string
	status    string
	err       string
	rows      int64
	queryID   int64
	hasResult bool
	columns   []column
	records   [][]map[string]any
	duration  time.Duration
}

type column struct{ name, typeName string }

// apiError is an error answer in the JSON 1.1 protocol's shape.
type apiError struct {
	status int
	typ    string
	msg    string
}

func errorf(status int, typ, format string, args ...any) *apiError {
	return &apiError{status, typ, fmt.Sprintf(format, args...)}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		writeError(w, errorf(400, "ValidationException", "reading body: %v", err))
		return
	}
	if err := s.checkSignature(r, body); err != nil {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		writeError(w, err)
		return
	}
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), "RedshiftData.")
	if r.Method != http.MethodPost || !ok {
		writeError(w, errorf(400, "UnknownOperationException", "want POST with X-Amz-Target: RedshiftData.<Operation>"))
		return
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		writeError(w, errorf(400, "SerializationException", "decoding body: %v", err))
		return
	}
	s.mu.Lock()
	s.calls[op]++
	s.mu.Unlock()
	var out any
	var aerr *apiError
	switch op {
	case "ExecuteStatement":
		out, aerr = s.execute(in, false)
	case "BatchExecuteStatement":
		out, aerr = s.execute(in, true)
	case "DescribeStatement":
		out, aerr = s.describe(in)
	case "GetStatementResult":
		out, aerr = s.result(in)
	case "CancelStatement":
		out, aerr = s.cancel(in)
	default:
		aerr = errorf(400, "UnknownOperationException", "redshiftfake does not implement %s", op)
	}
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": e.typ, "message": e.msg})
}

// checkSignature refuses what the service would refuse for its
// authentication (as internal/gluefake does for Glue).
func (s *Server) checkSignature(r *http.Request, body []byte) *apiError {
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
	if service != "redshift-data" {
		return errorf(403, "InvalidSignatureException", "credential scope names service %q, want redshift-data", service)
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
	req, err := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		return errorf(400, "ValidationException", "%v", err)
	}
	for _, h := range strings.Split(fields["SignedHeaders"], ";") {
		if h != "host" && h != "content-length" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: ak, SecretAccessKey: s.o.SecretAccessKey, SessionToken: r.Header.Get("X-Amz-Security-Token")}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, at); err != nil {
		return errorf(500, "InternalServerException", "re-signing: %v", err)
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

func epoch(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// execute validates a request as the service does and starts the
// statement.
func (s *Server) execute(in map[string]any, batch bool) (any, *apiError) {
	wg, cluster := str(in, "WorkgroupName"), str(in, "ClusterIdentifier")
	switch {
	case wg != "" && cluster != "":
		return nil, errorf(400, "ValidationException", "Either ClusterIdentifier or WorkgroupName must be specified, not both")
	case wg == "" && cluster == "":
		return nil, errorf(400, "ValidationException", "Either ClusterIdentifier or WorkgroupName is required")
	case wg != "" && str(in, "DbUser") != "":
		return nil, errorf(400, "ValidationException", "DbUser is not supported for Redshift Serverless workgroups")
	case cluster != "" && str(in, "DbUser") == "" && str(in, "SecretArn") == "":
		return nil, errorf(400, "ValidationException", "DbUser or SecretArn is required for a provisioned cluster")
	case str(in, "Database") == "":
		return nil, errorf(400, "ValidationException", "Database is required")
	}
	var sqls []string
	if batch {
		raw, _ := in["Sqls"].([]any)
		if len(raw) < 1 || len(raw) > 40 {
			return nil, errorf(400, "ValidationException", "Sqls must have between 1 and 40 members, got %d", len(raw))
		}
		for _, q := range raw {
			qs, _ := q.(string)
			if strings.TrimSpace(qs) == "" {
				return nil, errorf(400, "ValidationException", "a member of Sqls is empty")
			}
			sqls = append(sqls, qs)
		}
	} else {
		q := str(in, "Sql")
		if strings.TrimSpace(q) == "" {
			return nil, errorf(400, "ValidationException", "Sql is required")
		}
		sqls = []string{q}
	}
	for _, q := range sqls {
		if len(q) > 100*1024 {
			return nil, errorf(400, "ValidationException", "Cannot process query string larger than 100kB")
		}
	}
	now := time.Now()
	st := &statement{id: newID(), sqls: sqls, batch: batch, database: str(in, "Database"), created: now,
		status: statusSubmitted, updated: now, done: make(chan struct{})}
	for _, q := range sqls {
		st.subs = append(st.subs, &subStatement{sql: q, status: statusSubmitted, rows: -1})
	}
	s.mu.Lock()
	s.statements[st.id] = st
	s.mu.Unlock()
	go s.run(st)
	out := map[string]any{"Id": st.id, "CreatedAt": epoch(now), "Database": st.database}
	if wg != "" {
		out["WorkgroupName"] = wg
	} else {
		out["ClusterIdentifier"] = cluster
	}
	return out, nil
}

func (s *Server) lookup(in map[string]any) (*statement, int, *apiError) {
	id := str(in, "Id")
	sub := -1
	if i := strings.LastIndexByte(id, ':'); i >= 0 {
		var n int
		if _, err := fmt.Sscanf(id[i+1:], "%d", &n); err != nil || n < 1 {
			return nil, 0, errorf(400, "ValidationException", "invalid statement id %q", id)
		}
		id, sub = id[:i], n-1
	}
	s.mu.Lock()
	st, ok := s.statements[id]
	s.mu.Unlock()
	if !ok {
		return nil, 0, errorf(400, "ResourceNotFoundException", "Query does not exist: %s", str(in, "Id"))
	}
	if sub >= len(st.subs) || (sub >= 0 && !st.batch) {
		return nil, 0, errorf(400, "ResourceNotFoundException", "Query does not exist: %s", str(in, "Id"))
	}
	return st, sub, nil
}

func (s *Server) describe(in map[string]any) (any, *apiError) {
	st, sub, aerr := s.lookup(in)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	subOut := func(i int, ss *subStatement) map[string]any {
		m := map[string]any{"Id": fmt.Sprintf("%s:%d", st.id, i+1), "QueryString": ss.sql, "Status": ss.status,
			"ResultRows": ss.rows, "HasResultSet": ss.hasResult, "RedshiftQueryId": ss.queryID,
			"Duration": ss.duration.Nanoseconds(), "CreatedAt": epoch(st.created), "UpdatedAt": epoch(st.updated)}
		if ss.err != "" {
			m["Error"] = ss.err
		}
		return m
	}
	if sub >= 0 {
		return subOut(sub, st.subs[sub]), nil
	}
	out := map[string]any{"Id": st.id, "Status": st.status, "Database": st.database,
		"CreatedAt": epoch(st.created), "UpdatedAt": epoch(st.updated), "RedshiftPid": 4242}
	if st.err != "" {
		out["Error"] = st.err
	}
	if st.batch {
		var subs []any
		for i, ss := range st.subs {
			subs = append(subs, subOut(i, ss))
		}
		out["SubStatements"] = subs
		out["HasResultSet"] = false
		out["ResultRows"] = -1
	} else {
		ss := st.subs[0]
		out["QueryString"] = ss.sql
		out["ResultRows"] = ss.rows
		out["HasResultSet"] = ss.hasResult
		out["RedshiftQueryId"] = ss.queryID
		out["Duration"] = ss.duration.Nanoseconds()
	}
	return out, nil
}

func (s *Server) result(in map[string]any) (any, *apiError) {
	st, sub, aerr := s.lookup(in)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if sub < 0 {
		if st.batch {
			return nil, errorf(400, "ValidationException", "use a sub-statement id (%s:N) for the result of a batch", st.id)
		}
		sub = 0
	}
	ss := st.subs[sub]
	if ss.status != statusFinished {
		return nil, errorf(400, "ValidationException", "Query %s is not finished: %s", str(in, "Id"), ss.status)
	}
	if !ss.hasResult {
		return nil, errorf(400, "ResourceNotFoundException", "Query does not have result. Please check query status with DescribeStatement.")
	}
	var meta []any
	for _, c := range ss.columns {
		meta = append(meta, map[string]any{"name": c.name, "label": c.name, "typeName": c.typeName})
	}
	// One page: Tidemark's queries are small; TotalNumRows as the service
	// spells it.
	return map[string]any{"Records": ss.records, "ColumnMetadata": meta, "TotalNumRows": len(ss.records)}, nil
}

func (s *Server) cancel(in map[string]any) (any, *apiError) {
	st, _, aerr := s.lookup(in)
	if aerr != nil {
		return nil, aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st.status {
	case statusFinished, statusFailed, statusAborted:
		return nil, errorf(400, "ValidationException", "Could not cancel a query that is already in %s state", st.status)
	}
	st.cancelled = true
	return map[string]any{"Status": true}, nil
}
