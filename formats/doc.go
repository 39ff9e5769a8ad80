// Package formats is Tidemark's shared vocabulary: the change-event envelope
// and its totally ordered Position, table schemas and the one type map from
// MySQL/MariaDB column types to Go values, Arrow, Parquet and SQL types, and
// the view language with its evaluators and compilers.
//
// formats imports no sibling package. realtime, batch and reporting all speak
// in its terms, so that a value is typed the same way from the binlog to
// Parquet, Redis and the API.
package formats
