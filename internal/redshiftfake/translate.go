package redshiftfake

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// domainSchema holds the domains that stand for Redshift's byte-limited
// VARCHAR(n) and VARBYTE(n).
const domainSchema = "rsfake"

// Redshift's limits.
const (
	maxVarchar   = 65535
	maxVarbyte   = 16777216
	maxPrecision = 38
)

var (
	reVarchar   = regexp.MustCompile(`(?i)\b(?:VARCHAR|CHARACTER VARYING|NVARCHAR)\s*\(\s*(\d+|MAX)\s*\)`)
	reVarbyte   = regexp.MustCompile(`(?i)\b(?:VARBYTE|VARBINARY|BINARY VARYING)\s*\(\s*(\d+)\s*\)`)
	reDecimal   = regexp.MustCompile(`(?i)\b(?:DECIMAL|NUMERIC)\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)`)
	reDistStyle = regexp.MustCompile(`(?i)\s+DISTSTYLE\s+(?:KEY|ALL|EVEN|AUTO)\b`)
	reDistKey   = regexp.MustCompile(`(?i)\s+DISTKEY\s*\((?:"(?:[^"]|"")*"|[^)"])*\)`)
	reSortKey   = regexp.MustCompile(`(?i)\s+(?:COMPOUND\s+|INTERLEAVED\s+)?SORTKEY\s*(?:\((?:"(?:[^"]|"")*"|[^)"])*\)|AUTO\b)`)
	reNoBinding = regexp.MustCompile(`(?i)\s+WITH\s+NO\s+SCHEMA\s+BINDING\b`)
	reGetdate   = regexp.MustCompile(`(?i)\bGETDATE\s*\(\s*\)`)
	reLeading   = regexp.MustCompile(`(?is)^\s*(\w+)(?:\s+(\w+))?`)
)

// translate turns Redshift SQL into PostgreSQL and returns the domains it
// uses. It refuses what Redshift refuses (lengths and precisions past its
// limits) and, inside a batch, the statements that would commit or cannot
// run in Redshift's transaction. String literals are left alone.
func translate(sql string, inBatch bool) (string, []string, error) {
	if m := reLeading.FindStringSubmatch(sql); m != nil {
		first, second := strings.ToUpper(m[1]), strings.ToUpper(m[2])
		if inBatch {
			switch {
			case first == "TRUNCATE":
				return "", nil, failf("redshiftfake: TRUNCATE commits the transaction implicitly on Redshift; it cannot be part of an atomic batch")
			case first == "VACUUM":
				return "", nil, failf("VACUUM cannot run inside a transaction block")
			case first == "ALTER" && second == "TABLE" && regexp.MustCompile(`(?i)\bAPPEND\s+FROM\b`).MatchString(sql):
				return "", nil, failf("ALTER TABLE APPEND cannot run inside a transaction block")
			}
		}
		if first == "ALTER" && second == "TABLE" && strings.Count(stripLiterals(sql), "ADD COLUMN") > 1 {
			return "", nil, failf("ALTER TABLE ADD COLUMN takes one column per statement")
		}
	}
	// Table attributes hold quoted identifiers: strip them from the whole
	// statement (they cannot occur inside a literal Tidemark writes).
	sql = reDistStyle.ReplaceAllString(sql, "")
	sql = reDistKey.ReplaceAllString(sql, "")
	sql = reSortKey.ReplaceAllString(sql, "")
	sql = reNoBinding.ReplaceAllString(sql, "")
	var domains []string
	var ferr error
	out := mapOutsideLiterals(sql, func(code string) string {
		code = reVarchar.ReplaceAllStringFunc(code, func(m string) string {
			arg := reVarchar.FindStringSubmatch(m)[1]
			n := maxVarchar
			if !strings.EqualFold(arg, "MAX") {
				n, _ = strconv.Atoi(arg)
			}
			if n < 1 || n > maxVarchar {
				ferr = errors.Join(ferr, failf("length for type varchar cannot exceed %d", maxVarchar))
			}
			d := fmt.Sprintf("%s.varchar_%d", domainSchema, n)
			domains = append(domains, d)
			return d
		})
		code = reVarbyte.ReplaceAllStringFunc(code, func(m string) string {
			n, _ := strconv.Atoi(reVarbyte.FindStringSubmatch(m)[1])
			if n < 1 || n > maxVarbyte {
				ferr = errors.Join(ferr, failf("length for type varbyte cannot exceed %d", maxVarbyte))
			}
			d := fmt.Sprintf("%s.varbyte_%d", domainSchema, n)
			domains = append(domains, d)
			return d
		})
		for _, m := range reDecimal.FindAllStringSubmatch(code, -1) {
			p, _ := strconv.Atoi(m[1])
			sc := 0
			if m[2] != "" {
				sc, _ = strconv.Atoi(m[2])
			}
			if p < 1 || p > maxPrecision {
				ferr = errors.Join(ferr, failf("NUMERIC precision %d must be between 1 and %d", p, maxPrecision))
			} else if sc > p || sc > 37 {
				ferr = errors.Join(ferr, failf("NUMERIC scale %d must be between 0 and %d", sc, min(p, 37)))
			}
		}
		code = reGetdate.ReplaceAllString(code, "(now() AT TIME ZONE 'UTC')")
		return code
	})
	if ferr != nil {
		return "", nil, ferr
	}
	return out, domains, nil
}

// mapOutsideLiterals applies f to the parts of sql outside '...' literals
// and "..." identifiers.
func mapOutsideLiterals(sql string, f func(string) string) string {
	var b strings.Builder
	start := 0
	for i := 0; i < len(sql); i++ {
		q := sql[i]
		if q != '\'' && q != '"' {
			continue
		}
		b.WriteString(f(sql[start:i]))
		j := i + 1
		for j < len(sql) {
			if sql[j] == q {
				if j+1 < len(sql) && sql[j+1] == q {
					j += 2
					continue
				}
				break
			}
			j++
		}
		end := min(j+1, len(sql))
		b.WriteString(sql[i:end])
		start, i = end, end-1
	}
	b.WriteString(f(sql[start:]))
	return b.String()
}

func stripLiterals(sql string) string {
	return strings.ToUpper(mapOutsideLiterals(sql, func(s string) string { return s }))
}

// ensureDomains creates the byte-limited domains, outside any transaction
// (a concurrent creation is not an error).
func (s *Server) ensureDomains(ctx context.Context, domains []string) error {
	for _, d := range domains {
		name := strings.TrimPrefix(d, domainSchema+".")
		kind, nstr, _ := strings.Cut(name, "_")
		base := "text"
		if kind == "varbyte" {
			base = "bytea"
		}
		q := fmt.Sprintf("CREATE DOMAIN %s AS %s CHECK (octet_length(VALUE) <= %s)", d, base, nstr)
		if _, err := s.pool.Exec(ctx, q); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && (pe.Code == "42710" || pe.Code == "23505") {
				continue // exists
			}
			return err
		}
	}
	return nil
}

// domainLimit reads a column type's byte limit from its domain name.
func domainLimit(typ string) (kind string, limit int, ok bool) {
	name, found := strings.CutPrefix(typ, domainSchema+".")
	if !found {
		return "", 0, false
	}
	kind, nstr, _ := strings.Cut(name, "_")
	n, err := strconv.Atoi(nstr)
	if err != nil {
		return "", 0, false
	}
	return kind, n, true
}
