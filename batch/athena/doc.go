// Package athena generates the Athena (Glue / Hive DDL) statements that
// expose a published generation of the lake to SQL: one CREATE EXTERNAL
// TABLE per table snapshot, per history table (<db>_<table>_history) and
// per view result, with partition projection
// so that Athena finds the Hive partition folders without a crawler or
// MSCK REPAIR, and the statements that move an existing table to a newer
// generation.
//
// A table's LOCATION is its folder in one generation
// (s3://bucket/prefix/tables/<db>/<table>/gen=<g>/). Moving to generation
// g+1 is one ALTER TABLE SET LOCATION plus one SET TBLPROPERTIES for the
// projection's location template and ranges: queries see g or g+1, never a
// mix, and g stays readable until retention deletes it.
//
// Sync does the same through the Glue API instead of SQL: it creates or
// updates one Glue table per table and view of a generation, from the very
// description CreateDDL prints (columns from the one type map, partition
// keys, projection properties), and never moves a table back to an older
// generation than the one its GenerationParameter records.
package athena
