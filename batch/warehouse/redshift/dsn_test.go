package redshift

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/stack"
)

// The dsn executor over the PostgreSQL wire protocol, on a real
// PostgreSQL: a batch is one transaction, and a deadlock (40P01, as
// Redshift reports one) is classified and retried.
func TestDSNBatchAndDeadlockRetry(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := stack.Postgres(t)
	ctx := context.Background()
	d, err := OpenDSN(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Batch(ctx, []string{"CREATE TABLE d (id BIGINT PRIMARY KEY, x BIGINT)", "INSERT INTO d VALUES (1, 0), (2, 0)"}); err != nil {
		t.Fatal(err)
	}
	_, err = d.Batch(ctx, []string{"INSERT INTO d VALUES (3, 0)", "INSERT INTO nope VALUES (1)"})
	var se *StatementError
	if !errors.As(err, &se) || se.Index != 1 || !errors.Is(err, ErrStatement) {
		t.Fatalf("failing batch: %v", err)
	}
	if rows, err := d.Query(ctx, "SELECT count(*) FROM d"); err != nil || rows[0][0] != int64(2) {
		t.Fatalf("rows after a failed batch: %v, %v (want 2: the batch rolled back)", rows, err)
	}

	deadlock := func(e Executor) []error {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i, order := range [][2]string{{"1", "2"}, {"2", "1"}} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = e.Batch(ctx, []string{"UPDATE d SET x = x + 1 WHERE id = " + order[0], "SELECT pg_sleep(0.3)",
					"UPDATE d SET x = x + 1 WHERE id = " + order[1]})
			}()
		}
		wg.Wait()
		return errs
	}
	errs := deadlock(d)
	if n := countKind(errs, ErrSerialization); n != 1 {
		t.Fatalf("two transactions locking in opposite orders: %v, want one deadlock (ErrSerialization)", errs)
	}
	errs = deadlock(Retrying(d, RetryOptions{Backoff: 50 * time.Millisecond}))
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("with retries: %v, want both committed", errs)
	}
	if rows, err := d.Query(ctx, "SELECT sum(x) FROM d"); err != nil || rows[0][0] != "6" {
		t.Fatalf("sum after 1 + 2 committed pairs of updates: %v, %v, want 6", rows, err)
	}
}

func countKind(errs []error, kind error) int {
	n := 0
	for _, err := range errs {
		if errors.Is(err, kind) {
			n++
		}
	}
	return n
}
