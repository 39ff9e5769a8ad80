// Package capture reads one MySQL/MariaDB source: its binlog as a stream of
// committed transactions (Stream), a consistent snapshot of its tables with
// the binlog position it corresponds to (Snapshot), the schemas of its
// tables, and whether the server is set up to be captured at all
// (Prerequisites).
//
// # Positions
//
// A formats.Position names a transaction commit: File is the binlog file
// and Offset the end of the commit event (an XID event, a QUERY "COMMIT",
// or the statement of a DDL group) in it, which is also where the next
// transaction starts; GTID is the transaction's global id ("0-1-42" on
// MariaDB, "uuid:42" on MySQL). Stream(from) starts the replication
// connection at exactly {from.File, from.Offset}, so it delivers the
// transactions committed after from and nothing before. Snapshot returns a
// position of the same kind: the end of the last transaction its read view
// contains. Event i of a transaction has the transaction's position with
// Row = i+1.
//
// # Transactions
//
// The binlog is read with go-mysql's BinlogSyncer. Events are grouped into
// transactions by their GTID event (or BEGIN) and their commit; only
// committed groups leave the package. Rolled-back InnoDB transactions never
// reach the binlog; a group that ends in QUERY "ROLLBACK" (one that mixed
// engines) is dropped. A transaction is handed over whole: the package
// buffers its rows until the commit (memory grows with the transaction, not
// with the backlog), appending them, so large transactions cost linear
// time. Transactions touching no captured table are reduced to an empty
// Txn, sent at most once per Config.IdleTxnInterval so positions keep
// moving; the rows of tables that are not captured are not even decoded.
//
// A quiet source sends nothing at all, so at the replication heartbeats of
// an idle stream (asked for every Config.Tick) Stream sends ticks: empty
// Txns at the last commit with Row 1, 2, ..., stamped with the local time
// (formats.Txn.IsTick; tick.go says why a heartbeat proves that nothing
// more was committed). Consumers' checkpoints, lag and segments move with
// them, without a heartbeat table on the source. Replica gives a second
// Capture of the same source under another server_id, for a consumer that
// must read the binlog at its own pace (the changelog archive catching up).
//
// # Column policy
//
// Config.Columns (ColumnPolicy) keeps sensitive columns in the source:
// excluded columns are dropped and masked ones replaced by a keyed hash
// (MaskedValue, of type MaskedType) as rows are decoded, on the binlog path
// (assembler.rows, through the projection the table cache plans once per
// table map) and the snapshot path (which does not select excluded
// columns), and Schemas reports the projected schemas. Nothing that leaves
// the package has seen the policy's clear values. Without a policy the
// paths are unchanged: the compiled policy is nil and no projection is
// planned.
//
// # Schemas
//
// Each row decodes with the schema it was written under: with
// binlog_row_metadata=FULL every table map event carries column names,
// signedness, character sets, ENUM/SET members and the primary key, and the
// schema of a table id is rebuilt whenever its table map differs from the
// one it was built from. DDL in the stream therefore needs no parsing, and
// an event written before an ALTER keeps the old schema. Values are
// converted by formats.FromBinlog on the binlog path and formats.FromText on
// the snapshot path, so both give identical Go values.
//
// # Times
//
// Txn.CommitTime is the binlog event header's commit time, whole seconds:
// segments are cut on it. Txn.Stamp is the best time known for the lag
// (formats.Clock): a heartbeat row's DATETIME(6) (Config.HeartbeatTable,
// written by Heartbeat), else MySQL 8's immediate_commit_timestamp, else,
// when the capture is caught up (go-mysql has decoded no rows event past
// the commit and the commit second is under 2 s old), the time the commit
// was received, else the commit second.
//
// # Failures
//
// A broken replication connection (server restart, KILL of the dump thread,
// network loss, or silence past three heartbeat periods) is reconnected
// with exponential backoff, logged once per attempt at Warn, and the stream
// resumes after the last transaction it delivered: a transaction that was
// half read is dropped and read again whole, so nothing is sent twice or
// skipped. Errors that reconnecting cannot cure end Stream: ErrPurged (the
// binlog file needed is gone: re-bootstrap), ErrPrerequisite (the binlog
// shows a source not configured for ROW/FULL/FULL capture: a statement-logged
// row change in a captured database, partial row images, missing row
// metadata, XA transactions), ErrUnloggedDelete (TRUNCATE of a captured
// table, whose deleted rows the binlog does not list), access errors and
// decoding errors. DROP TABLE of a captured table is logged at Warn only:
// the table is gone, its last rows stay wherever they were delivered.
package capture
