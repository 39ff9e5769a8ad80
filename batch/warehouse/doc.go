// Package warehouse loads the batch layer's published generations into
// SQL warehouses (PostgreSQL here, Redshift in package
// batch/warehouse/redshift), atomically, fenced and idempotently.
//
// # Model
//
// A Generation is what a load needs of a published lake generation: its
// number, its cut (position, GTID set, time) and, per table, the columns
// with their types from the one type map (formats), the exact Parquet files
// with their sizes and row counts. FromManifest builds it from the lake's
// generation manifest (package batch), which is written last: a generation
// that has a manifest is whole.
//
// A Loader is one target's dialect. Loading generation g is two steps:
//
//  1. Prepare creates and fills per-generation tables (one per table,
//     history and view of g, named GenTable(stable, g)) from the Parquet
//     files, then builds their primary keys and indexes. Nothing a reader
//     sees changes; a crash leaves only per-generation tables of g, which
//     the next Prepare of g drops and recreates.
//  2. Swap runs ONE transaction that re-points every stable name to g's
//     tables and writes g's row into the control table
//     <schema>.tidemark_generations. The transaction refuses a generation
//     older than the loaded one (ErrStale), is a no-op for the loaded one
//     (replay), and refuses a fencing token lower than the highest the
//     target has seen (ErrFenced).
//
// DropOld then drops the per-generation tables of generations past the
// retention; it never touches the loaded generation's.
//
// A Runner drives the Loaders of every configured target: after each
// published generation it loads the newest one into each target, retries a
// target that is down with backoff (ErrUnavailable), records per target
// the state of its latest attempt (loading, loaded, failed and why; rows,
// bytes, duration), and lets the next generation supersede a load that has
// not happened yet. A target that is down never blocks or unpublishes the
// generation: the lake and Redis have it already.
//
// # Fencing
//
// Load and Swap take a fencing token (0 = none): the scheduler's lease
// token. The control table keeps the highest token seen and the swap
// refuses a lower one, so a scheduler that lost its lease cannot move a
// target after its successor did.
//
// # Stable names
//
// Readers query stable names in the target's schema: a table db.t is
// db_t, its history db_t_history, a view its own name (StableName). On
// PostgreSQL they are SQL views over the per-generation tables, so a swap
// is a catalog change in one transaction: a READ COMMITTED statement sees
// generation g or g+1, whole. docs/warehouse.md explains what is atomic.
package warehouse
