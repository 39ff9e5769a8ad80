// Package enginetest holds the batch layer's tests against independent
// engines: Parquet snapshots of a real MariaDB source read back by DuckDB
// (with Hive partitioning) must equal the source at the cut, value for
// value. It has no non-test code; it is a package of its own so that the
// cgo DuckDB build does not slow down the batch package's unit tests.
package enginetest
