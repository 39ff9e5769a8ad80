// Package snapshot writes Parquet files from Arrow record batches: the
// table snapshots and view results of the batch layer.
//
// # Model
//
// A Schema pairs the Arrow schema of the record batches with one Parquet
// leaf per column, in column order and with the column's name. SchemaOf
// derives both from source columns through the one type map
// (formats.ArrowType, formats.ParquetNode); SchemaFromArrow maps derived
// data that has no source types.
//
// FileWriter encodes one file column by column: each Arrow array becomes
// Parquet values in bulk (no per-row reflection), in chunks that stay in
// the CPU cache, with bounded row groups (a row group's compressed pages are
// the writer's only buffer).
//
// Writer spreads a table's rows over Hive partition folders
// (prefix/key=value/.../part-NNNNN.parquet) by a PartitionSpec, streaming
// each file to the lake while it is written and keeping at most
// MaxOpenFiles files open: memory is bounded whatever the table's size.
// Files appear in the lake one by one as they finish; making a set of them
// visible at once is the caller's job (a manifest written last, see package
// batch).
//
// ParsePartitionSpec reads specs such as "day(created_at) AS dt" and
// refuses, with the reason, transforms a column's type cannot take.
// docs/lake.md documents the folder names and values.
package snapshot
