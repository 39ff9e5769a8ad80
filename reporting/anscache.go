package reporting

import (
	"sync"
	"sync/atomic"
	"time"
)

// answerCache keeps, per request (view, wire format and query string), the
// latest encoded answer computed for it: the body without its freshness
// tail (see answer.body), the state it was computed from and when that
// state was last known to be the store's current one. An entry is exact
// for the state it names, forever; whether it may still be served is the
// caller's decision (Config.MaxStaleness). Entries leave first in first out
// when the total body size passes the bound.
type answerCache struct {
	max   int // bytes; <= 0 disables
	mu    sync.Mutex
	size  int
	items map[requestKey]*cachedAnswer
	fifo  []requestKey
}

// requestKey names a request in the answer cache: the query string is
// taken as sent, so the cache is consulted before the query is parsed. A
// struct, not a joined string, so a lookup allocates nothing.
type requestKey struct {
	view  string
	f     format
	query string
}

func answerKey(view string, f format, rawQuery string) requestKey {
	return requestKey{view: view, f: f, query: rawQuery}
}

// size is what the key costs the cache's byte bound.
func (k requestKey) size() int { return len(k.view) + len(k.f) + len(k.query) }

// flight names the key's shared computation (singleflight takes strings).
func (k requestKey) flight() string {
	return "answer\x00" + k.view + "\x00" + string(k.f) + "\x00" + k.query
}

// cachedAnswer is one computed answer. Everything but checked and
// refreshing is immutable once the entry is in the cache.
type cachedAnswer struct {
	q     *query  // the parsed request, to recompute it in the background
	f     format  // its wire format
	ans   *answer // rows dropped: only freshness and mirrors are used
	body  []byte
	etag  string // names state and format
	state string // stateKey of the view (and of the joined mirror)

	// Rendered once for every request the entry answers: the body's
	// freshness tail but its lag_ms values, and the headers but the lag
	// and the length.
	tail      freshTail
	headers   []header // content type, cache and freshness headers
	notModHdr []header // the same without the content type, for a 304

	// checked is when the store's current state was last seen to be
	// state (a Server.now reading, whose monotonic clock makes ages
	// immune to wall-clock steps): a Meta read that began at checked
	// returned it. The answer is therefore at most now-checked behind the
	// store. Never nil once the entry is in the cache.
	checked atomic.Pointer[time.Time]
	// refreshing is set while a background refresh of this entry runs.
	refreshing atomic.Bool
}

func (c *cachedAnswer) checkedAt() time.Time { return *c.checked.Load() }

// touch records that state was current at t (never moving backwards).
func (c *cachedAnswer) touch(t time.Time) {
	for {
		cur := c.checked.Load()
		if (cur != nil && !t.After(*cur)) || c.checked.CompareAndSwap(cur, &t) {
			return
		}
	}
}

func newAnswerCache(maxBytes int) *answerCache {
	return &answerCache{max: maxBytes, items: map[requestKey]*cachedAnswer{}}
}

func (c *answerCache) get(key requestKey) *cachedAnswer {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items[key]
}

// put stores a as key's latest answer unless the entry there was checked
// later (a slow computation must not replace a newer answer).
func (c *answerCache) put(key requestKey, a *cachedAnswer) {
	n := len(a.body) + key.size()
	if c.max <= 0 || n > c.max/8 {
		return // one answer may take at most an eighth of the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.items[key]; ok {
		if old.checkedAt().After(a.checkedAt()) {
			return
		}
		c.size -= len(old.body) + key.size()
		c.items[key] = a
		c.size += n
		return // keeps its place in fifo
	}
	for c.size+n > c.max && len(c.fifo) > 0 {
		old := c.fifo[0]
		c.fifo = c.fifo[1:]
		if e, ok := c.items[old]; ok {
			c.size -= len(e.body) + old.size()
			delete(c.items, old)
		}
	}
	c.items[key] = a
	c.fifo = append(c.fifo, key)
	c.size += n
}
