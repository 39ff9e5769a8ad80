// Package postgres is the PostgreSQL warehouse loader: a
// warehouse.Loader that loads each generation with binary COPY and swaps
// it in with one transaction.
//
// # Model
//
// A target has two schemas: <schema> holds what readers query (one SQL
// view per table, history and aggregate view, named by
// warehouse.StableName) and the control table tidemark_generations;
// <schema>_gen holds the per-generation tables t_<name>_g<N>.
//
// Prepare fills each per-generation table (Options.Parallel at a time, the
// largest first, each on its own connection) in ONE transaction of its own:
// CREATE TABLE, COPY ... (FORMAT binary, FREEZE) streamed from the lake's
// Parquet (Arrow record batches encoded straight into COPY's binary
// format, copy.go; decoding, encoding and sending overlap), the row count
// checked against the manifest, the primary key (tables) or the key index
// (histories) built, then COMMIT. A per-generation table therefore exists only complete: a crash
// mid-COPY leaves nothing, and a table that exists is reused by the next
// Prepare of its generation.
//
// Swap is one transaction: it locks the control table (EXCLUSIVE: readers
// of it go on), checks the fence and the loaded generation, re-points each
// stable view (CREATE OR REPLACE VIEW when the column list is unchanged,
// else DROP VIEW and CREATE VIEW, which PostgreSQL allows in one
// transaction), drops the views of names the generation no longer has and
// inserts the control row; after its COMMIT the new tables are ANALYZEd.
// PostgreSQL's catalog changes are transactional, so a READ COMMITTED
// statement sees every view of generation g or every view of g+1; a
// REPEATABLE READ transaction begun before the swap would see g+1's views
// over tables created after its snapshot, so readers should use READ
// COMMITTED (PostgreSQL's default), see docs/warehouse.md.
//
// DropOld drops per-generation tables no view uses any more, keeping the
// newest loaded generations for time travel, with a lock timeout so a long
// reader of an old generation delays the drop to the next load instead of
// blocking it.
package postgres
