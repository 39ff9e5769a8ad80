// Package batch is Tidemark's batch layer: it rebuilds, as generations,
// partitioned Parquet snapshots of the captured tables and the batch results
// of the views, and publishes them atomically.
//
// # Generations
//
// A generation g is a rebuild at a cut: the last commit of a sealed
// changelog segment (or, for the bootstrap generation 0, the consistent
// snapshot's position, which is the archive's first boundary). It is built
// from a base rolled forward with the archived changes up to the cut:
//
//   - the previous generation's table snapshots (the default), or
//   - a fresh extract from the source (Source.Snapshot), staged as Parquet
//     and rolled forward from the extract's position to the cut.
//
// Rolling forward keeps only the changed keys in memory (the net effect per
// primary key of the changes since the base; per whole row for tables
// without a key), then streams the base rows through them: never a whole
// table.
//
// # Layout and publish protocol
//
//	tables/<db>/<table>/gen=<g>/<hive partitions>/part-NNNNN.parquet
//	history/<db>/<table>/gen=<g>/<hive partitions>/part-NNNNN.parquet
//	                                the SCD2 history of a Table with History (history.go)
//	views/<view>/gen=<g>/part-00000.parquet
//	_staging/gen=<g>/...            extracts and staged history versions, deleted after the rebuild
//	_generations/<g>.json           the generation manifest: written last
//
// Data files first, the generation manifest last: a generation exists once
// its manifest does, and readers (the reporting API, Athena DDL, warehouse
// loads) take the files a manifest lists. Then the Publisher loads the view
// results into the serving store and flips its pointer (one atomic step per
// view). A rebuild killed at any point leaves readers on generation g-1; the
// next rebuild of g first deletes whatever the dead attempt left under g.
// Retention keeps the last Keep generations: a superseded generation's
// folders are listed, its files deleted and its manifest last, so a failed
// step leaves it whole for the next rebuild to retry; generation folders
// below the oldest kept one that no manifest names are swept.
//
// # DDL
//
// A table whose columns changed in the archived changes is carried across
// the change when it is derivable (ddl.go: ADD COLUMN with a constant
// default, DROP COLUMN, widening types), for its rows, its net changes and
// its history; otherwise, and for a table the previous generation does not
// have, Rebuild extracts that table alone from the source and rolls it
// forward to the cut, which is then a sealed boundary at or after the
// extract.
//
// One rebuild runs at a time per lake root (the scheduler's job).
package batch
