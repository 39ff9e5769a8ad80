package redshiftfake

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/url"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

func isCopy(sql string) bool {
	t := strings.TrimSpace(sql)
	return len(t) > 5 && strings.EqualFold(t[:5], "COPY ")
}

var (
	reCopy    = regexp.MustCompile(`(?is)^\s*COPY\s+((?:"(?:[^"]|"")*"|\w+)(?:\.(?:"(?:[^"]|"")*"|\w+))?)\s*(\([^)]*\))?\s+FROM\s+'((?:[^']|'')*)'\s*(.*?)\s*;?\s*$`)
	reIAMRole = regexp.MustCompile(`(?i)\bIAM_ROLE\s+'((?:[^']|'')*)'`)
	reARN     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/.+$`)
)

// Parameters COPY accepts with FORMAT AS PARQUET (Redshift's "COPY from
// columnar data formats" page); anything else is refused as Redshift does.
var parquetParams = map[string]bool{"IAM_ROLE": true, "FORMAT": true, "AS": true, "PARQUET": true, "MANIFEST": true,
	"ACCEPTINVCHARS": true, "FILLRECORD": true, "STATUPDATE": true, "ON": true, "OFF": true, "EXPLICIT_IDS": true,
	"SERIALIZETOJSON": true, "CREDENTIALS": true}

// loadError is a refused value: it fails the COPY and is recorded in
// sys_load_error_detail.
type loadError struct {
	file, column, colType string
	line                  int64
	length                int
	code                  int
	msg                   string
}

// copy emulates COPY ... FORMAT AS PARQUET MANIFEST inside tx and returns
// the rows loaded.
func (s *Server) copy(ctx context.Context, tx pgx.Tx, ss *subStatement) (int64, error) {
	m := reCopy.FindStringSubmatch(ss.sql)
	if m == nil {
		return 0, failf("syntax error in COPY: want COPY table FROM 's3://...' IAM_ROLE '...' FORMAT AS PARQUET MANIFEST")
	}
	target, colList, from, opts := m[1], m[2], strings.ReplaceAll(m[3], "''", "'"), m[4]
	if colList != "" {
		return 0, failf("redshiftfake: COPY with a column list is not emulated")
	}
	upper := strings.ToUpper(mapOutsideLiterals(opts, func(s string) string { return s }))
	if !regexp.MustCompile(`\bFORMAT\s+(AS\s+)?PARQUET\b`).MatchString(upper) {
		return 0, failf("redshiftfake: only COPY ... FORMAT AS PARQUET is emulated")
	}
	words := strings.Fields(mapOutsideLiterals(opts, func(code string) string { return code }))
	for _, w := range words {
		if strings.HasPrefix(w, "'") {
			continue
		}
		if !parquetParams[strings.ToUpper(w)] {
			return 0, failf("%s argument is not supported for PARQUET based COPY", strings.ToUpper(w))
		}
	}
	role := reIAMRole.FindStringSubmatch(opts)
	switch {
	case role == nil:
		return 0, failf("COPY needs IAM_ROLE or CREDENTIALS: no credentials given to read s3")
	case !reARN.MatchString(role[1]):
		return 0, failf("Invalid IAM_ROLE %q: want arn:aws:iam::<account>:role/<name>", role[1])
	case s.o.IAMRole != "" && role[1] != s.o.IAMRole:
		return 0, failf("User arn:aws:redshift:us-east-1:123456789012:dbuser:dev/tidemark is not authorized to assume IAM Role %s", role[1])
	}
	if !regexp.MustCompile(`\bMANIFEST\b`).MatchString(upper) {
		return 0, failf("redshiftfake: only COPY ... MANIFEST is emulated (a prefix may load files a generation does not list)")
	}
	cols, err := targetColumns(ctx, tx, target)
	if err != nil {
		return 0, err
	}
	files, err := s.readManifest(ctx, from)
	if err != nil {
		return 0, err
	}
	var total int64
	for _, f := range files {
		rows, lerr, err := s.loadFile(ctx, f, cols)
		if err != nil {
			return 0, err
		}
		if lerr != nil {
			s.recordLoadError(ss.queryID, lerr)
			return 0, failf("Load into table '%s' failed. Check 'sys_load_error_detail' system table for details.", unquoteTable(target))
		}
		if len(rows) > 0 {
			names := make([]string, len(cols))
			for i, c := range cols {
				names[i] = c.name
			}
			n, err := tx.CopyFrom(ctx, tableIdentifier(target), names, pgx.CopyFromRows(rows))
			if err != nil {
				return 0, err
			}
			total += n
		}
	}
	return total, nil
}

func unquoteTable(t string) string {
	parts := splitIdent(t)
	return parts[len(parts)-1]
}

func splitIdent(t string) []string {
	var parts []string
	for _, p := range regexp.MustCompile(`"(?:[^"]|"")*"|\w+`).FindAllString(t, -1) {
		if strings.HasPrefix(p, `"`) {
			p = strings.ReplaceAll(p[1:len(p)-1], `""`, `"`)
		} else {
			p = strings.ToLower(p)
		}
		parts = append(parts, p)
	}
	return parts
}

func tableIdentifier(t string) pgx.Identifier { return pgx.Identifier(splitIdent(t)) }

// targetCol is a column of the COPY's target table.
type targetCol struct {
	name    string
	typ     string // format_type: bigint, numeric(20,0), rsfake.varchar_10, ...
	notNull bool
}

func targetColumns(ctx context.Context, tx pgx.Tx, target string) ([]targetCol, error) {
	rows, err := tx.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull
		FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
		tableIdentifier(target).Sanitize())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var cols []targetCol
	for rows.Next() {
		var c targetCol
		if err := rows.Scan(&c.name, &c.typ, &c.notNull); err != nil {
			return nil, err
		}
		cols = append(cols, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, failf("relation \"%s\" does not exist", unquoteTable(target))
	}
	return cols, nil
}

type manifestFile struct {
	url    string
	bucket string
	key    string
	length int64
}

func parseS3URL(u string) (bucket, key string, err error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "s3" || p.Host == "" || len(p.Path) < 2 {
		return "", "", failf("Invalid S3 URL %q: want s3://bucket/key", u)
	}
	return p.Host, strings.TrimPrefix(p.Path, "/"), nil
}

func (s *Server) getObject(ctx context.Context, bucket, key string) ([]byte, error) {
	out, err := s.o.S3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// readManifest reads and checks a COPY manifest as Redshift does for
// Parquet: every entry needs meta.content_length, equal to the object's
// size; a missing mandatory file fails the COPY.
func (s *Server) readManifest(ctx context.Context, u string) ([]manifestFile, error) {
	bucket, key, err := parseS3URL(u)
	if err != nil {
		return nil, err
	}
	b, err := s.getObject(ctx, bucket, key)
	if err != nil {
		return nil, failf("S3ServiceException: could not read manifest %s: %v", u, err)
	}
	var m struct {
		Entries []struct {
			URL       string `json:"url"`
			Mandatory bool   `json:"mandatory"`
			Meta      *struct {
				ContentLength *int64 `json:"content_length"`
			} `json:"meta"`
		} `json:"entries"`
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, failf("Manifest file is not in correct json format: %v", err)
	}
	var files []manifestFile
	for _, e := range m.Entries {
		if e.Meta == nil || e.Meta.ContentLength == nil {
			return nil, failf("The manifest entry for %s has no meta.content_length, which COPY from Parquet requires", e.URL)
		}
		fb, fk, err := parseS3URL(e.URL)
		if err != nil {
			return nil, err
		}
		head, err := s.o.S3.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(fb), Key: aws.String(fk)})
		if err != nil {
			if e.Mandatory {
				return nil, failf("Manifest file entry %s is mandatory but could not be read: %v", e.URL, err)
			}
			continue
		}
		if size := aws.ToInt64(head.ContentLength); size != *e.Meta.ContentLength {
			return nil, failf("Spectrum Scan Error: the content_length %d in the manifest for %s is not the file's size %d", *e.Meta.ContentLength, e.URL, size)
		}
		files = append(files, manifestFile{url: e.URL, bucket: fb, key: fk, length: *e.Meta.ContentLength})
	}
	return files, nil
}

// loadFile reads one Parquet file under Redshift's COPY rules and returns
// its rows as PostgreSQL values, or the first refused value.
func (s *Server) loadFile(ctx context.Context, f manifestFile, cols []targetCol) ([][]any, *loadError, error) {
	b, err := s.getObject(ctx, f.bucket, f.key)
	if err != nil {
		return nil, nil, failf("S3ServiceException: reading %s: %v", f.url, err)
	}
	pf, err := parquet.OpenFile(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		return nil, nil, failf("Spectrum Scan Error: %s is not a valid Parquet file: %v", f.url, err)
	}
	fields := pf.Schema().Fields()
	if len(fields) != len(cols) {
		return nil, nil, failf("Spectrum Scan Error: Unmatched number of columns between table and file. Table columns: %d, Data columns: %d, File name: %s",
			len(cols), len(fields), f.url)
	}
	convs := make([]converter, len(cols))
	for i, fl := range fields {
		if !fl.Leaf() || fl.Repeated() {
			return nil, nil, failf("Spectrum Scan Error: column %d (%s) of %s is nested: Invalid type: 4000 (load it into SUPER with SERIALIZETOJSON)", i+1, fl.Name(), f.url)
		}
		c, err := converterFor(fl.Type(), cols[i])
		if err != nil {
			return nil, nil, failf("Spectrum Scan Error: File '%s' has an incompatible Parquet schema for column %d '%s' (table column %s %s): %v",
				f.url, i+1, fl.Name(), cols[i].name, cols[i].typ, err)
		}
		convs[i] = c
	}
	var out [][]any
	var line int64
	for _, rg := range pf.RowGroups() {
		rr := rg.Rows()
		buf := make([]parquet.Row, 128)
		for {
			n, err := rr.ReadRows(buf)
			for _, row := range buf[:n] {
				line++
				vals := make([]any, len(cols))
				for _, v := range row {
					ci := v.Column()
					if ci < 0 || ci >= len(cols) {
						continue
					}
					if v.IsNull() {
						if cols[ci].notNull {
							rr.Close()
							return nil, &loadError{file: f.url, column: cols[ci].name, colType: cols[ci].typ, line: line, code: 1213,
								msg: "Missing data for not-null field"}, nil
						}
						continue
					}
					x, lerr := convs[ci](v)
					if lerr != nil {
						lerr.file, lerr.column, lerr.colType, lerr.line = f.url, cols[ci].name, cols[ci].typ, line
						rr.Close()
						return nil, lerr, nil
					}
					vals[ci] = x
				}
				out = append(out, vals)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				rr.Close()
				return nil, nil, failf("Spectrum Scan Error: reading %s: %v", f.url, err)
			}
		}
		rr.Close()
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
	}
	return out, nil, nil
}

// converter turns a non-null Parquet value into the target column's
// PostgreSQL value, or refuses it.
type converter func(parquet.Value) (any, *loadError)

// converterFor returns the converter from a Parquet column type to a
// target column, or why Redshift's COPY refuses the pair.
func converterFor(t parquet.Type, c targetCol) (converter, error) {
	lt := t.LogicalType()
	var logical format.LogicalTypeValue
	if lt != nil {
		logical = lt.Value
	}
	kind, limit, isDomain := domainLimit(c.typ)
	want := func(types ...string) error {
		for _, ty := range types {
			if c.typ == ty || strings.HasPrefix(c.typ, ty+"(") {
				return nil
			}
		}
		return fmt.Errorf("a %s column loads into %s only", describe(t), strings.Join(types, " or "))
	}
	switch t.Kind() {
	case parquet.Boolean:
		if err := want("boolean"); err != nil {
			return nil, err
		}
		return func(v parquet.Value) (any, *loadError) { return v.Boolean(), nil }, nil
	case parquet.Int32, parquet.Int64:
		switch x := logical.(type) {
		case nil:
		case *format.IntType:
			if !x.IsSigned {
				return nil, fmt.Errorf("unsigned INT(%d) has no Redshift type (write DECIMAL(20,0))", x.BitWidth)
			}
		case *format.DecimalType:
			return decimalConverter(t, c, int(x.Precision), int(x.Scale))
		case *format.DateType:
			if err := want("date"); err != nil {
				return nil, err
			}
			return func(v parquet.Value) (any, *loadError) {
				return time.Unix(int64(v.Int32())*86400, 0).UTC(), nil
			}, nil
		case *format.TimestampType:
			target := "timestamp without time zone"
			if x.IsAdjustedToUTC {
				target = "timestamp with time zone"
			}
			if t.Kind() != parquet.Int64 {
				return nil, errors.New("timestamp on INT32")
			}
			if err := want(target, "timestamp without time zone"); err != nil {
				return nil, err
			}
			unit := time.Microsecond
			switch x.Unit.Value.(type) {
			case *format.MilliSeconds:
				unit = time.Millisecond
			case *format.NanoSeconds:
				return nil, errors.New("TIMESTAMP(NANOS) is out of Redshift's microsecond range: write microseconds")
			}
			return func(v parquet.Value) (any, *loadError) {
				return time.UnixMicro(v.Int64() * int64(unit/time.Microsecond)).UTC(), nil
			}, nil
		default:
			return nil, fmt.Errorf("logical type %s is not loadable", logical)
		}
		if t.Kind() == parquet.Int64 {
			if err := want("bigint"); err != nil {
				return nil, err
			}
			return func(v parquet.Value) (any, *loadError) { return v.Int64(), nil }, nil
		}
		if err := want("integer", "smallint"); err != nil {
			return nil, err
		}
		return func(v parquet.Value) (any, *loadError) { return v.Int32(), nil }, nil
	case parquet.Float:
		if err := want("real"); err != nil {
			return nil, err
		}
		return func(v parquet.Value) (any, *loadError) { return v.Float(), nil }, nil
	case parquet.Double:
		if err := want("double precision"); err != nil {
			return nil, err
		}
		return func(v parquet.Value) (any, *loadError) { return v.Double(), nil }, nil
	case parquet.FixedLenByteArray:
		if x, ok := logical.(*format.DecimalType); ok {
			return decimalConverter(t, c, int(x.Precision), int(x.Scale))
		}
		return nil, errors.New("FIXED_LEN_BYTE_ARRAY without DECIMAL is not loadable")
	case parquet.ByteArray:
		switch logical.(type) {
		case *format.StringType, *format.EnumType, *format.JsonType:
			if !isDomain || kind != "varchar" {
				return nil, fmt.Errorf("a %s column loads into VARCHAR only", describe(t))
			}
			return func(v parquet.Value) (any, *loadError) {
				b := v.ByteArray()
				if !utf8.Valid(b) {
					return nil, &loadError{code: 1220, msg: "String contains invalid or unsupported UTF8 codepoints"}
				}
				if len(b) > limit {
					return nil, &loadError{code: 1204, length: limit, msg: fmt.Sprintf("String length exceeds DDL length (%d bytes > %d)", len(b), limit)}
				}
				return string(b), nil
			}, nil
		case nil:
			if !isDomain || kind != "varbyte" {
				return nil, fmt.Errorf("a %s column loads into VARBYTE only", describe(t))
			}
			return func(v parquet.Value) (any, *loadError) {
				b := v.ByteArray()
				if len(b) > limit {
					return nil, &loadError{code: 1204, length: limit, msg: fmt.Sprintf("Value length exceeds DDL length (%d bytes > %d)", len(b), limit)}
				}
				return bytes.Clone(b), nil
			}, nil
		}
		return nil, fmt.Errorf("logical type %s is not loadable", logical)
	}
	return nil, fmt.Errorf("physical type %s is not loadable", t.Kind())
}

func describe(t parquet.Type) string {
	s := t.Kind().String()
	if lt := t.LogicalType(); lt != nil && lt.Value != nil {
		s += " " + lt.Value.String()
	}
	return s
}

var reNumeric = regexp.MustCompile(`^numeric\((\d+),(\d+)\)$`)

// decimalConverter loads a Parquet DECIMAL(p,s) into NUMERIC(P,S): the
// scale must be the same and the file's precision at most the column's.
func decimalConverter(t parquet.Type, c targetCol, p, sc int) (converter, error) {
	m := reNumeric.FindStringSubmatch(c.typ)
	if m == nil {
		return nil, fmt.Errorf("a %s column loads into DECIMAL only", describe(t))
	}
	var cp, cs int
	fmt.Sscanf(m[1], "%d", &cp)
	fmt.Sscanf(m[2], "%d", &cs)
	if cs != sc || p > cp {
		return nil, fmt.Errorf("DECIMAL(%d,%d) in the file does not fit the column's DECIMAL(%d,%d)", p, sc, cp, cs)
	}
	limit := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(cp)), nil)
	return func(v parquet.Value) (any, *loadError) {
		var n *big.Int
		switch t.Kind() {
		case parquet.Int32:
			n = big.NewInt(int64(v.Int32()))
		case parquet.Int64:
			n = big.NewInt(v.Int64())
		default:
			b := v.ByteArray()
			n = new(big.Int).SetBytes(b)
			if len(b) > 0 && b[0]&0x80 != 0 {
				n.Sub(n, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
			}
		}
		if new(big.Int).Abs(n).Cmp(limit) >= 0 {
			return nil, &loadError{code: 1216, msg: "Numeric data overflow (result precision)"}
		}
		return pgtype.Numeric{Int: n, Exp: int32(-sc), Valid: true}, nil
	}, nil
}

// recordLoadError writes the refused value's row into
// sys_load_error_detail, outside the COPY's transaction.
func (s *Server) recordLoadError(queryID int64, e *loadError) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	length := ""
	if e.length > 0 {
		length = fmt.Sprint(e.length)
	}
	colType := e.colType
	if k, n, ok := domainLimit(colType); ok {
		colType = fmt.Sprintf("%s(%d)", k, n)
	}
	_, _ = s.pool.Exec(ctx, `INSERT INTO public.sys_load_error_detail (user_id, query_id, transaction_id, session_id,
		database_name, table_id, start_time, file_name, line_number, column_name, column_type, column_length, position, error_code, error_message)
		VALUES (100, $1, $1, 4242, 'dev', 0, now() AT TIME ZONE 'UTC', $2, $3, $4, $5, $6, 0, $7, $8)`,
		queryID, e.file, e.line, e.column, truncate(colType, 10), length, e.code, truncate(e.msg, 512))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
