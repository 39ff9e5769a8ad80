package formats

// The value half of the type map: how a column value is decoded from the
// binlog and from a snapshot query into its canonical Go value (see types.go
// for the table), and how canonical values are written and read as JSON,
// text, Arrow and Parquet, and ordered. One file per codec:
//
//	value_decimal.go    Decimal: parsing, scaling, comparison
//	value_binlog.go     FromBinlog: go-mysql row images
//	value_snapshot.go   FromText, SelectExpr: snapshot queries (text protocol)
//	value_json.go       AppendJSON, ParseJSON: the API's JSON form
//	value_text.go       FormatText, ParseText: CSV and query parameters
//	value_timefmt.go    date, time and datetime spellings shared by the above
//	value_compare.go    CompareValues: MySQL's ordering
//	value_arrow.go      AppendArrow, ArrowValue
//	value_parquet.go    ParquetValue, FromParquet
//
// The view evaluator is split the same way, by stage: view_parse.go (the
// language), view_bind.go (Bind: checking a view against a schema),
// view_where.go (the where compiler), view_accumulate.go (row changes into
// deltas), view_key.go (group keys), view_result.go (answer rows),
// view_columnar.go (the same over Arrow), view_sql*.go (the view as SQL).
//
// Canonical values, per Kind (nil is SQL NULL everywhere):
//
//	TINYINT..BIGINT, YEAR          int64 (uint64 when Unsigned)
//	BIT(M)                         uint64
//	DECIMAL(P,S)                   Decimal, exactly S fraction digits
//	FLOAT, DOUBLE                  float64 (FLOAT: the float32 value, widened)
//	DATE                           time.Time, midnight UTC
//	DATETIME(fsp)                  time.Time, the wall clock read as UTC
//	TIMESTAMP(fsp)                 time.Time, the instant in UTC
//	TIME(fsp)                      time.Duration, may be negative
//	CHAR, VARCHAR, TEXT, ENUM,
//	SET, JSON                      string (SET: labels joined by ",";
//	                               JSON: its text, insignificant space removed)
//	BINARY, VARBINARY, BLOB,
//	GEOMETRY                       []byte, never nil (GEOMETRY: WKB without
//	                               MySQL's 4-byte SRID prefix)
//
// Every time.Time is built in time.UTC, so canonical values from the binlog
// and from a snapshot compare equal with reflect.DeepEqual. The zero dates
// '0000-00-00' and '0000-00-00 00:00:00' (and the zero TIMESTAMP) decode to
// time.Time{}, and time.Time{} is written back as those zero spellings; a
// date with only some zero parts ('2024-00-15', allowed by a lax sql_mode)
// has no time.Time and is an error, never silently moved to another day.
