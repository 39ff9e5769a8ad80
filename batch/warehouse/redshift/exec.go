package redshift

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Error kinds of statements; test them with errors.Is.
var (
	// ErrSerialization: Redshift aborted the transaction for a
	// serialization conflict (error 1023) or a deadlock (40P01). Running
	// it again usually succeeds; Retrying does.
	ErrSerialization = errors.New("serialization conflict")
	// ErrStatement: the statement failed on the cluster (a SQL error).
	ErrStatement = errors.New("statement failed")
	// ErrUnreachable: the cluster or the Data API could not be reached or
	// refused the caller (network, credentials, throttling).
	ErrUnreachable = errors.New("redshift unreachable")
)

// Result is what one statement did.
type Result struct {
	// Rows is the number of rows it affected (for COPY: loaded); -1 when
	// the statement reports none.
	Rows int64
	// QueryID is Redshift's query id (for sys_load_error_detail); 0 when
	// unknown.
	QueryID int64
}

// Executor runs SQL on Redshift. Batch runs its statements in order as ONE
// transaction: if one fails, none has any effect. Query returns the rows
// of a SELECT, each value an int64, float64, bool, string, []byte or nil
// for NULL. Implementations are safe for concurrent use.
type Executor interface {
	Exec(ctx context.Context, sql string) (Result, error)
	Batch(ctx context.Context, sqls []string) ([]Result, error)
	Query(ctx context.Context, sql string) ([][]any, error)
	Close()
}

// LoadError is a row of sys_load_error_detail.
type LoadError struct {
	File       string
	Line       int64
	Column     string
	ColumnType string
	Code       int64
	Message    string
}

// StatementError is a failed statement: its SQL (for a batch, the failing
// statement's), its index in the batch, the cluster's message and, for a
// COPY, the rows of sys_load_error_detail.
type StatementError struct {
	SQL     string
	Index   int // in the batch; 0 for a single statement
	Message string
	// QueryID is the failed statement's query id, 0 when unknown.
	QueryID    int64
	LoadErrors []LoadError
	kind       error
}

func (e *StatementError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "statement %q failed: %s", abbreviate(e.SQL, 300), e.Message)
	for _, l := range e.LoadErrors {
		fmt.Fprintf(&b, "; load error in %s line %d column %s (%s): %d %s", l.File, l.Line, l.Column, l.ColumnType, l.Code, l.Message)
	}
	return b.String()
}

// Unwrap gives the kind: ErrSerialization or ErrStatement.
func (e *StatementError) Unwrap() error { return e.kind }

func abbreviate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// kindOf returns the kind of a failed statement from the cluster's
// report. Redshift gives a serialization conflict as SQLSTATE XX000 with
// the message "1023" (the Data API only as text: "ERROR: 1023 DETAIL:
// Serializable isolation violation ...") and a deadlock as 40P01; neither
// has a structured form on the Data API, so the text is all there is.
func kindOf(sqlstate, message string) error {
	switch {
	case sqlstate == "40P01",
		sqlstate == "XX000" && strings.HasPrefix(strings.TrimSpace(message), "1023"),
		strings.Contains(message, "Serializable isolation violation"),
		strings.Contains(message, "ERROR: 1023"),
		strings.Contains(message, "deadlock detected"):
		return ErrSerialization
	}
	return ErrStatement
}

// RetryOptions configure Retrying.
type RetryOptions struct {
	// Attempts is how many times a statement is tried in all; 0 means 5.
	Attempts int
	// Backoff is the wait before the second attempt, doubled after each;
	// 0 means 2s.
	Backoff time.Duration
	// MaxBackoff caps the wait; 0 means 30s.
	MaxBackoff time.Duration
}

// Retrying wraps e so that a statement or batch aborted by a
// serialization conflict (ErrSerialization) is run again with backoff. A
// batch is retried whole: it was rolled back whole.
func Retrying(e Executor, o RetryOptions) Executor {
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 30 * time.Second
	}
	return &retrying{e: e, o: o}
}

type retrying struct {
	e Executor
	o RetryOptions
}

func retry[T any](ctx context.Context, o RetryOptions, f func() (T, error)) (T, error) {
	wait := o.Backoff
	for attempt := 1; ; attempt++ {
		v, err := f()
		if err == nil || !errors.Is(err, ErrSerialization) || attempt >= o.Attempts {
			if err != nil && attempt > 1 {
				err = fmt.Errorf("after %d attempts: %w", attempt, err)
			}
			return v, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
		wait = min(2*wait, o.MaxBackoff)
	}
}

func (r *retrying) Exec(ctx context.Context, sql string) (Result, error) {
	return retry(ctx, r.o, func() (Result, error) { return r.e.Exec(ctx, sql) })
}

func (r *retrying) Batch(ctx context.Context, sqls []string) ([]Result, error) {
	return retry(ctx, r.o, func() ([]Result, error) { return r.e.Batch(ctx, sqls) })
}

func (r *retrying) Query(ctx context.Context, sql string) ([][]any, error) {
	return retry(ctx, r.o, func() ([][]any, error) { return r.e.Query(ctx, sql) })
}

func (r *retrying) Close() { r.e.Close() }
