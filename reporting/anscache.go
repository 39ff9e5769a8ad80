package reporting

import (
	"sync"
)

// answerCache keeps encoded answer bodies (everything but the freshness
// tail, see answer.body) keyed by ETag and query string. An ETag names the
// store state, so an entry is exact for as long as that state is current;
// entries of past states are simply never asked for again and age out
// first in first out. The total body size is bounded.
type answerCache struct {
	max   int // bytes; <= 0 disables
	mu    sync.Mutex
	size  int
	items map[string]*cachedAnswer
	fifo  []string
}

type cachedAnswer struct {
	ans  *answer // rows dropped: only freshness and mirrors are used
	body []byte
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

func (c *answerCache) put(key string, a *cachedAnswer) {
	n := len(a.body) + len(key)
	if c.max <= 0 || n > c.max/8 {
		return // one answer may take at most an eighth of the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
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
