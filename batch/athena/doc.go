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
package athena
