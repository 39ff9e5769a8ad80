package redshift

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DSN is an Executor over Redshift's PostgreSQL wire protocol (pgx): a
// cluster endpoint reached with a user and password. Batch runs BEGIN, the
// statements, COMMIT on one connection, so it has no statement limit.
type DSN struct {
	pool *pgxpool.Pool
}

var _ Executor = (*DSN)(nil)

// OpenDSN connects lazily to dsn (postgres://user:pass@cluster:5439/dev).
func OpenDSN(ctx context.Context, dsn string) (*DSN, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("redshift dsn: %w", err)
	}
	// Redshift has no extended-protocol statement cache to rely on across
	// its leader node; the simple protocol is what its docs and peers use.
	cfg.ConnConfig.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
	cfg.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("redshift dsn: %w", err)
	}
	return &DSN{pool: pool}, nil
}

// pgError turns a pgx error into a StatementError of its kind, or an
// unreachable-target error for a connection failure.
func pgError(sql string, index int, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Detail != "" {
			msg += " DETAIL: " + pe.Detail
		}
		return &StatementError{SQL: sql, Index: index, Message: pe.Code + ": " + msg, kind: kindOf(pe.Code, pe.Message)}
	}
	var ne net.Error
	var ce *pgconn.ConnectError
	if errors.As(err, &ne) || errors.As(err, &ce) || pgconn.SafeToRetry(err) {
		return fmt.Errorf("redshift dsn: %w: %w", ErrUnreachable, err)
	}
	return fmt.Errorf("redshift dsn: executing %q: %w", abbreviate(sql, 120), err)
}

func (d *DSN) Exec(ctx context.Context, sql string) (Result, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return Result{}, pgError(sql, 0, err)
	}
	defer conn.Release()
	tag, err := conn.Exec(ctx, sql)
	if err != nil {
		return Result{}, withLoadErrors(ctx, conn, pgError(sql, 0, err))
	}
	return Result{Rows: tag.RowsAffected()}, nil
}

func (d *DSN) Batch(ctx context.Context, sqls []string) ([]Result, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return nil, pgError("BEGIN", 0, err)
	}
	defer conn.Release()
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, pgError("BEGIN", 0, err)
	}
	res := make([]Result, len(sqls))
	for i, s := range sqls {
		tag, err := tx.Exec(ctx, s)
		if err != nil {
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			_ = tx.Rollback(rctx)
			cancel()
			return nil, withLoadErrors(ctx, conn, pgError(s, i, err))
		}
		res[i] = Result{Rows: tag.RowsAffected()}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, pgError("COMMIT", len(sqls), err)
	}
	return res, nil
}

// withLoadErrors adds sys_load_error_detail's rows to a failed COPY, read
// on the connection (the session) that ran it, after its rollback: the
// session's newest COPY query id is the failed one.
func withLoadErrors(ctx context.Context, conn *pgxpool.Conn, err error) error {
	var se *StatementError
	if !errors.As(err, &se) || !isCopy(se.SQL) {
		return err
	}
	var id *int64
	if qerr := conn.QueryRow(ctx, "SELECT MAX(query_id) FROM sys_load_error_detail WHERE session_id = pg_backend_pid()").Scan(&id); qerr != nil || id == nil {
		return err
	}
	se.QueryID = *id
	rows, qerr := conn.Query(ctx, LoadErrorsSQL(*id))
	if qerr != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		vals, verr := rows.Values()
		if verr != nil || len(vals) < 6 {
			break
		}
		for i, v := range vals {
			vals[i] = normalize(v)
		}
		se.LoadErrors = append(se.LoadErrors, LoadError{File: asString(vals[0]), Line: asInt(vals[1]), Column: asString(vals[2]),
			ColumnType: asString(vals[3]), Code: asInt(vals[4]), Message: asString(vals[5])})
	}
	return err
}

func (d *DSN) Query(ctx context.Context, sql string) ([][]any, error) {
	rows, err := d.pool.Query(ctx, sql)
	if err != nil {
		return nil, pgError(sql, 0, err)
	}
	defer rows.Close()
	var out [][]any
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, pgError(sql, 0, err)
		}
		for i, v := range vals {
			vals[i] = normalize(v)
		}
		out = append(out, vals)
	}
	if err := rows.Err(); err != nil {
		return nil, pgError(sql, 0, err)
	}
	return out, nil
}

// normalize maps pgx's values to Query's: integers int64, numerics and
// times their text.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, int64, float64, bool, string, []byte:
		return v
	case int16:
		return int64(x)
	case int32:
		return int64(x)
	case float32:
		return float64(x)
	case time.Time:
		return x.UTC().Format("2006-01-02 15:04:05.999999")
	case pgtype.Numeric:
		if !x.Valid {
			return nil
		}
		return numericText(x)
	}
	return toString(v)
}

// numericText is a numeric's exact decimal text (as Redshift's own text
// output writes it).
func numericText(n pgtype.Numeric) string {
	if n.NaN || n.Int == nil {
		return "NaN"
	}
	digits := new(big.Int).Abs(n.Int).String()
	if n.Exp >= 0 {
		digits += strings.Repeat("0", int(n.Exp))
	} else if scale := int(-n.Exp); true {
		if len(digits) <= scale {
			digits = strings.Repeat("0", scale-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-scale] + "." + digits[len(digits)-scale:]
	}
	if n.Int.Sign() < 0 {
		return "-" + digits
	}
	return digits
}

func toString(v any) string { return fmt.Sprint(v) }

func (d *DSN) Close() { d.pool.Close() }
