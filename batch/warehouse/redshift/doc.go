// Package redshift is the Amazon Redshift warehouse loader: a
// warehouse.Loader that loads each generation with COPY from the lake's
// Parquet and swaps it in with one transaction.
//
// # Model
//
// A target has two schemas, as a PostgreSQL target: <schema> holds what
// readers query (one late-binding view per table, history and aggregate
// view, named by warehouse.StableName) and the control table
// tidemark_generations; <schema>_gen holds the per-generation tables
// t_<name>_g<N>.
//
// The cluster is reached through an Executor: the Data API (DataAPI:
// ExecuteStatement and BatchExecuteStatement, polled with
// DescribeStatement) or the PostgreSQL wire protocol (DSN, pgx). A batch
// is ONE transaction on both. Retrying wraps either so that a statement
// or batch aborted by a serialization conflict (Redshift's error 1023, or
// a deadlock, 40P01) runs again with backoff; a failed statement comes
// back as a StatementError with its SQL, the cluster's message and, for a
// COPY, the rows of sys_load_error_detail.
//
// Prepare, per table: Preflight refuses values longer than their Redshift
// column (ErrValueTooLong, with the table, column and key); the COPY
// manifest listing exactly the generation's files (meta.content_length,
// mandatory) is written to the lake under _warehouse/<target>/gen=<N>/;
// then one batch drops any left-over, creates the table (columns in the
// files' order, typed by formats.RedshiftType, with the configured sort and
// dist keys), COPYs it and checks its row count. A per-generation table
// therefore exists only complete, and a later Prepare reuses it.
//
// Swap is one batch (SwapSQL): LOCK the control table, a guard that fails
// the transaction for an older generation or a superseded fence, the views
// dropped and re-created over the new tables, the control row. A replay is
// a no-op. More names than one batch holds go through stored procedures
// CALLed inside it. TRUNCATE, ALTER TABLE APPEND and VACUUM are never part
// of it; DropOld drops old tables one statement at a time outside any
// transaction, and the control table gains a newer version's columns by
// ADD COLUMN, one per statement, outside any transaction.
//
// Every SQL text is built by a pure function of sql.go; testdata/ holds
// them (golden tests). The tests run against internal/redshiftfake, a Data
// API stand-in over a real PostgreSQL that enforces COPY's Parquet rules,
// and against a real cluster when TIDEMARK_TEST_REDSHIFT_* is set
// (TestRealCluster). docs/warehouse-redshift.md is the user's page.
package redshift
