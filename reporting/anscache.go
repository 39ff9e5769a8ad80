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
	items map[string]*cachedAnswer
	fifo  []string
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
	return &answerCache{max: maxBytes, items: map[string]*cachedAnswer{}}
}

func (c *answerCache) get(key string) *cachedAnswer {
	if c.max <= 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.items[key]
}

// put stores a as key's latest answer unless the entry there was checked
// later (a slow computation must not replace a newer answer).
func (c *answerCache) put(key string, a *cachedAnswer) {
	n := len(a.body) + len(key)
	if c.max <= 0 || n > c.max/8 {
		return // one answer may take at most an eighth of the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.items[key]; ok {
		if old.checkedAt().After(a.checkedAt()) {
			return
		}
		c.size -= len(old.body) + len(key)
		c.items[key] = a
		c.size += n
		return // keeps its place in fifo
	}
	for c.size+n > c.max && len(c.fifo) > 0 {
		old := c.fifo[0]
		c.fifo = c.fifo[1:]
		if e, ok := c.items[old]; ok {
			c.size -= len(e.body) + len(old)
			delete(c.items, old)
		}
	}
	c.items[key] = a
	c.fifo = append(c.fifo, key)
	c.size += n
}
