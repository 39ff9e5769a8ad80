package reporting

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Scope is what a bearer token may do.
type Scope string

const (
	// ScopeRead may query views, tables and the OpenAPI document.
	ScopeRead Scope = "read"
	// ScopeAdmin may do everything ScopeRead may, and scrape /metrics.
	ScopeAdmin Scope = "admin"
)

// Token is one bearer token the API accepts.
type Token struct {
	// Name identifies the token in logs and metrics; never the secret.
	Name string `yaml:"name"`
	// Secret is the bearer value clients send ("Authorization: Bearer <secret>").
	Secret string `yaml:"secret"`
	// Scope is read or admin.
	Scope Scope `yaml:"scope"`
}

// String redacts the secret, so a Token may be logged.
func (t Token) String() string { return fmt.Sprintf("%s(%s, secret redacted)", t.Name, t.Scope) }

// Config is the reporting API's configuration (the `api:` section).
//
// Zero values take the defaults documented per field; ApplyDefaults fills
// them and Validate checks the result.
type Config struct {
	// Listen is the TCP address to serve on. Default "127.0.0.1:8080".
	Listen string `yaml:"listen"`
	// Tokens are the accepted bearer tokens. With none configured the API is
	// open: anyone who reaches Listen may read every view and /metrics.
	// Bind to loopback or put a proxy in front in that case.
	Tokens []Token `yaml:"tokens"`
	// DefaultRows is the row limit of a request without limit=. Default
	// 10,000 (the external contract), or MaxRows if that is smaller.
	DefaultRows int `yaml:"default_rows"`
	// MaxRows is the largest limit= a request may ask for; a larger one is
	// a 400. Default 100,000. It must be >= DefaultRows.
	MaxRows int `yaml:"max_rows"`
	// MaxGroups bounds how many groups one answer may compute before
	// limit/offset (after filters, join and re-aggregation); a query over a
	// larger view must filter. 0 means 1,000,000.
	MaxGroups int `yaml:"max_groups"`
	// MaxJoinKeys bounds how many distinct dimension keys a join may look
	// up. 0 means 100,000.
	MaxJoinKeys int `yaml:"max_join_keys"`
	// RequestTimeout bounds one request, store reads included. Default 10s.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// MaxQueryBytes bounds the URL query string; a longer one is a 414.
	// Default 8 KiB.
	MaxQueryBytes int `yaml:"max_query_bytes"`
	// ShutdownTimeout bounds how long Run drains in-flight requests after
	// its context ends. Default 15s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MirrorCacheRows bounds the mirror rows kept in memory per mirror for
	// joins and lookups (rows of the mirror's current state only). 0 means
	// 100,000; negative disables the cache. Aggregate views always keep
	// their latest decoded snapshot, one per view.
	MirrorCacheRows int `yaml:"mirror_cache_rows"`
	// AnswerCacheBytes bounds the memory of encoded answers kept per
	// (ETag, query string), so a dashboard polled by many clients is
	// encoded once per change. 0 means 64 MiB; negative disables it.
	AnswerCacheBytes int `yaml:"answer_cache_bytes"`
	// MaxStaleness bounds how far behind the store an aggregate view's
	// answer may be: a request may be answered with the latest answer
	// computed for the same request if the state it was computed from was
	// the current one no longer than MaxStaleness ago. The answer is
	// still exact and unmixed for that state, and its freshness (lag_ms
	// included) and ETag say which state it is. Past half of it, one
	// background refresh per request recomputes the answer if the state
	// moved, so polled answers are computed about once per
	// MaxStaleness/2 instead of once per transaction. 0 means 200ms;
	// negative means none: every request reads the current state first.
	MaxStaleness time.Duration `yaml:"max_staleness"`
}

// ApplyDefaults fills zero fields with their defaults.
func (c *Config) ApplyDefaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.DefaultRows == 0 {
		c.DefaultRows = 10000
		if c.MaxRows > 0 && c.MaxRows < c.DefaultRows {
			c.DefaultRows = c.MaxRows
		}
	}
	if c.MaxRows == 0 {
		c.MaxRows = max(100000, c.DefaultRows)
	}
	if c.MaxGroups == 0 {
		c.MaxGroups = 1000000
	}
	if c.MaxJoinKeys == 0 {
		c.MaxJoinKeys = 100000
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = 10 * time.Second
	}
	if c.MaxQueryBytes == 0 {
		c.MaxQueryBytes = 8 << 10
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.AnswerCacheBytes == 0 {
		c.AnswerCacheBytes = 64 << 20
	}
	if c.MaxStaleness == 0 {
		c.MaxStaleness = 200 * time.Millisecond
	}
	if c.MirrorCacheRows == 0 {
		c.MirrorCacheRows = 100000
	}
}

// Validate reports every problem of c, each naming its dotted path under
// "api." so an operator knows which key to fix.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("api.listen: %q is not host:port: %w", c.Listen, err))
	}
	if c.DefaultRows < 1 {
		errs = append(errs, fmt.Errorf("api.default_rows: %d, want >= 1", c.DefaultRows))
	}
	if c.MaxRows < c.DefaultRows {
		errs = append(errs, fmt.Errorf("api.max_rows: %d is below api.default_rows %d", c.MaxRows, c.DefaultRows))
	}
	if c.MaxGroups < 1 {
		errs = append(errs, fmt.Errorf("api.max_groups: %d, want >= 1", c.MaxGroups))
	}
	if c.MaxJoinKeys < 1 {
		errs = append(errs, fmt.Errorf("api.max_join_keys: %d, want >= 1", c.MaxJoinKeys))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("api.request_timeout: %s, want > 0", c.RequestTimeout))
	}
	if c.MaxQueryBytes < 256 {
		errs = append(errs, fmt.Errorf("api.max_query_bytes: %d, want >= 256", c.MaxQueryBytes))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, fmt.Errorf("api.shutdown_timeout: %s, want > 0", c.ShutdownTimeout))
	}
	names := map[string]bool{}
	secrets := map[string]string{}
	for i, t := range c.Tokens {
		p := fmt.Sprintf("api.tokens[%d]", i)
		if t.Name == "" {
			errs = append(errs, fmt.Errorf("%s.name: empty", p))
		} else if names[t.Name] {
			errs = append(errs, fmt.Errorf("%s.name: %q used twice", p, t.Name))
		}
		names[t.Name] = true
		if len(t.Secret) < 16 {
			errs = append(errs, fmt.Errorf("%s.secret: %d characters, want at least 16", p, len(t.Secret)))
		} else if other, dup := secrets[t.Secret]; dup {
			errs = append(errs, fmt.Errorf("%s.secret: same secret as token %q", p, other))
		}
		secrets[t.Secret] = t.Name
		if t.Scope != ScopeRead && t.Scope != ScopeAdmin {
			errs = append(errs, fmt.Errorf("%s.scope: %q, want %q or %q", p, t.Scope, ScopeRead, ScopeAdmin))
		}
	}
	return errors.Join(errs...)
}
