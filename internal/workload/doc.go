// Package workload creates the sample shop schema and drives a seeded random
// write workload against it: the same generator feeds the end-to-end tests,
// the benchmarks and `make demo`.
//
// The workload exercises what CDC gets wrong: updates that move rows between
// groups, primary-key changes, deletes, NULLs, multi-row and multi-statement
// transactions, rollbacks, one very large transaction, and every MySQL column
// type (table shop.alltypes). Correctness is never checked against the
// generator's own bookkeeping: tests compare Tidemark with the source.
package workload
