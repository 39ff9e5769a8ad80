package capture

import (
	"strings"

	"github.com/tidemark/tidemark/formats"
)

// DDL that deletes rows without logging them: the binlog carries the
// statement, never row events, so a captured table's changes stop adding
// up. TRUNCATE keeps the table and is refused (ErrUnloggedDelete); DROP
// TABLE and DROP DATABASE remove the table itself and are only reported.

// unloggedDelete reports the captured tables a statement empties or drops
// without row events: truncated (the table lives on, empty) or dropped.
func (a *assembler) unloggedDelete(schema, q string) (truncated, dropped []formats.TableID) {
	toks := tokenize(q)
	kw := func(i int, words ...string) bool {
		if i+len(words) > len(toks) {
			return false
		}
		for k, w := range words {
			if toks[i+k].quoted || !strings.EqualFold(toks[i+k].s, w) {
				return false
			}
		}
		return true
	}
	captured := func(ids []formats.TableID) []formats.TableID {
		var out []formats.TableID
		for _, id := range ids {
			if a.tables.captured.has(id.DB, id.Table) {
				out = append(out, id)
			}
		}
		return out
	}
	switch {
	case kw(0, "TRUNCATE"):
		i := 1
		if kw(i, "TABLE") {
			i++
		}
		ids, _ := tableList(toks[i:], schema, false)
		return captured(ids), nil
	case kw(0, "DROP", "TABLE"), kw(0, "DROP", "TABLES"):
		i := 2
		if kw(i, "IF", "EXISTS") {
			i += 2
		}
		ids, _ := tableList(toks[i:], schema, true)
		return nil, captured(ids)
	case kw(0, "DROP", "DATABASE"), kw(0, "DROP", "SCHEMA"):
		i := 2
		if kw(i, "IF", "EXISTS") {
			i += 2
		}
		if i < len(toks) && a.tables.captured.hasDB(toks[i].s) {
			db := toks[i].s
			if a.tables.captured.dbs[db] {
				return nil, []formats.TableID{{DB: db, Table: "*"}}
			}
			var out []formats.TableID
			for t := range a.tables.captured.tables {
				if t.DB == db {
					out = append(out, t)
				}
			}
			return nil, out
		}
	}
	return nil, nil
}

type token struct {
	s      string
	quoted bool
}

// tokenize splits a statement into identifiers/words (backquoted ones
// unquoted), "." and ",", dropping comments.
func tokenize(q string) []token {
	var toks []token
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(q[i:], "/*"):
			j := strings.Index(q[i+2:], "*/")
			if j < 0 {
				return toks
			}
			i += j + 4
		case c == '`':
			var b strings.Builder
			j := i + 1
			for j < len(q) {
				if q[j] == '`' {
					if j+1 < len(q) && q[j+1] == '`' {
						b.WriteByte('`')
						j += 2
						continue
					}
					break
				}
				b.WriteByte(q[j])
				j++
			}
			toks = append(toks, token{s: b.String(), quoted: true})
			i = j + 1
		case c == '.' || c == ',' || c == ';' || c == '(' || c == ')':
			toks = append(toks, token{s: string(c)})
			i++
		default:
			j := i
			for j < len(q) && !strings.ContainsRune(" \t\n\r`.,;()", rune(q[j])) {
				j++
			}
			toks = append(toks, token{s: q[i:j]})
			i = j
		}
	}
	return toks
}

// tableList reads "[db.]t[, [db.]t ...]" (one name when !many).
func tableList(toks []token, schema string, many bool) ([]formats.TableID, int) {
	var out []formats.TableID
	i := 0
	for i < len(toks) {
		name := toks[i].s
		id := formats.TableID{DB: schema, Table: name}
		if i+2 < len(toks) && toks[i+1].s == "." && !toks[i+1].quoted {
			id = formats.TableID{DB: name, Table: toks[i+2].s}
			i += 2
		}
		i++
		out = append(out, id)
		if !many || i >= len(toks) || toks[i].s != "," || toks[i].quoted {
			break
		}
		i++
	}
	return out, i
}
