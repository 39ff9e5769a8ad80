package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// keyUsage is what one kind of key of a view costs in Redis.
type keyUsage struct {
	keys   int
	fields int64 // hash fields or zset members
	bytes  int64 // MEMORY USAGE ... SAMPLES 0
}

// redisMemory reports bytes per mirrored row and per aggregate group from
// MEMORY USAGE of every key of the views, and used_memory against the
// empty server.
func (b *bench) redisMemory(ctx context.Context, rep *report) error {
	var total int64
	for _, v := range b.views {
		kinds := map[string]*keyUsage{}
		iter := b.rdb.Scan(ctx, 0, "tm:{"+v.Name+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			key := iter.Val()
			kind := strings.TrimPrefix(key, "tm:{"+v.Name+"}:")
			if i := strings.IndexByte(kind, ':'); i >= 0 {
				kind = kind[:i+1] + "N" // s:<seg>, b:<gen>, mb:<gen>
			}
			u := kinds[kind]
			if u == nil {
				u = &keyUsage{}
				kinds[kind] = u
			}
			n, err := b.rdb.MemoryUsage(ctx, key, 0).Result()
			if err != nil {
				return fmt.Errorf("MEMORY USAGE %s: %w", key, err)
			}
			typ, err := b.rdb.Type(ctx, key).Result()
			if err != nil {
				return err
			}
			var fields int64
			switch typ {
			case "hash":
				fields, err = b.rdb.HLen(ctx, key).Result()
			case "zset":
				fields, err = b.rdb.ZCard(ctx, key).Result()
			}
			if err != nil {
				return err
			}
			u.keys++
			u.fields += fields
			u.bytes += n
			total += n
		}
		if err := iter.Err(); err != nil {
			return err
		}
		names := make([]string, 0, len(kinds))
		for k := range kinds {
			names = append(names, k)
		}
		sort.Strings(names)
		var viewBytes int64
		for _, k := range names {
			viewBytes += kinds[k].bytes
		}
		if v.Mirror {
			if u := kinds["rows"]; u != nil && u.fields > 0 {
				rep.add("redis memory", fmt.Sprintf("mirror %s: speed overlay (tm:{%s}:rows)", v.Name, v.Name),
					fmt.Sprintf("%.0f B/row", float64(u.bytes)/float64(u.fields)), "",
					fmt.Sprintf("%s rows, %s (hash of pk → [version, %d columns] JSON)", fmtInt(u.fields), fmtBytes(u.bytes), len(v.Columns)))
			}
			if u := kinds["mb:N"]; u != nil && u.fields > 0 {
				rep.add("redis memory", fmt.Sprintf("mirror %s: batch generation (mb:<gen>)", v.Name),
					fmt.Sprintf("%.0f B/row", float64(u.bytes)/float64(u.fields)), "",
					fmt.Sprintf("%s rows, %s", fmtInt(u.fields), fmtBytes(u.bytes)))
			}
		} else {
			if u := kinds["speed"]; u != nil && u.fields > 0 {
				rep.add("redis memory", fmt.Sprintf("aggregate %s: running total (speed)", v.Name),
					fmt.Sprintf("%.0f B/group", float64(u.bytes)/float64(u.fields)), "",
					fmt.Sprintf("%s groups, %s", fmtInt(u.fields), fmtBytes(u.bytes)))
			}
			if u := kinds["s:N"]; u != nil && u.fields > 0 {
				rep.add("redis memory", fmt.Sprintf("aggregate %s: live segments (s:<seg>)", v.Name),
					fmt.Sprintf("%.0f B/group", float64(u.bytes)/float64(u.fields)), "",
					fmt.Sprintf("%d segments, %s group states, %s", u.keys, fmtInt(u.fields), fmtBytes(u.bytes)))
			}
		}
		rep.add("redis memory", fmt.Sprintf("view %s: all keys", v.Name), fmtBytes(viewBytes), "", strings.Join(names, " "))
	}
	used, err := b.usedMemory(ctx)
	if err != nil {
		return err
	}
	rep.add("redis memory", "INFO used_memory − empty server", fmtBytes(used-b.usedMemoryEmpty), "",
		fmt.Sprintf("Σ MEMORY USAGE of the views' keys: %s", fmtBytes(total)))
	return nil
}
