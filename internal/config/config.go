package config

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/reporting"
	"github.com/tidemark/tidemark/scheduler"
)

// Config is the whole file. The zero value is not valid; use Load or
// Default, then Validate.
type Config struct {
	Sources []Source           `yaml:"sources"`
	Redis   Redis              `yaml:"redis"`
	Lake    Lake               `yaml:"lake"`
	API     reporting.Config   `yaml:"api"`
	Speed   Speed              `yaml:"speed"`
	Batch   Batch              `yaml:"batch"`
	Athena  Athena             `yaml:"athena"`
	Metrics Metrics            `yaml:"metrics"`
	Log     Log                `yaml:"log"`
	Views   []formats.ViewSpec `yaml:"views"`
	// Warehouse lists the warehouse targets (warehouse.go).
	Warehouse []Warehouse `yaml:"warehouse"`
	// Jobs, Orchestrator and Events configure the scheduled jobs (jobs.go).
	Jobs         []Job        `yaml:"jobs"`
	Orchestrator Orchestrator `yaml:"orchestrator"`
	Events       Events       `yaml:"events"`
}

// Source is one MySQL/MariaDB server whose binlog Tidemark reads.
type Source struct {
	Name     string `yaml:"name"`
	Flavor   string `yaml:"flavor"` // mariadb | mysql
	Host     string `yaml:"host"`
	Port     int    `yaml:"port"`
	User     string `yaml:"user"`
	Password Secret `yaml:"password"`
	// ServerID is the replication client id; it must be unique among the
	// source's replicas and differ from the source's own server_id.
	ServerID uint32 `yaml:"server_id"`
	// Databases captures every base table of these databases; Tables names
	// single tables as db.table. At least one of the two is required.
	Databases []string `yaml:"databases"`
	Tables    []string `yaml:"tables"`
	// Heartbeat, when set (db.table), is a table Tidemark writes every
	// HeartbeatInterval so an idle source still moves the position and lag.
	Heartbeat         string        `yaml:"heartbeat"`
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// Columns is the column policy (columns.go): excluded and masked
	// columns.
	Columns Columns `yaml:"columns"`
}

// Secret is a string that never prints.
type Secret string

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "********"
}

// LogValue keeps secrets out of structured logs.
func (s Secret) LogValue() string { return s.String() }

// Redis is the speed and serving store: one server (Addr) or a cluster.
type Redis struct {
	Addr     string   `yaml:"addr"`
	Cluster  []string `yaml:"cluster"`
	Password Secret   `yaml:"password"`
	DB       int      `yaml:"db"`
	// Prefix starts every key Tidemark writes; default "tm".
	Prefix string `yaml:"prefix"`
}

// Lake is where the batch layer keeps the changelog and generations.
type Lake struct {
	// Root is file:///path or s3://bucket/prefix.
	Root string `yaml:"root"`
	S3   S3     `yaml:"s3"`
}

// S3 configures an S3 API endpoint; empty fields use the AWS default chain.
type S3 struct {
	Endpoint        string `yaml:"endpoint"`
	Region          string `yaml:"region"`
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey Secret `yaml:"secret_access_key"`
	PathStyle       bool   `yaml:"path_style"`
}

// Speed tunes the speed layer.
type Speed struct {
	// SegmentSeconds is the segment length: a transaction's segment is
	// floor(commit time / SegmentSeconds), never below its predecessor's.
	// Default 10.
	SegmentSeconds int `yaml:"segment_seconds"`
	// RebootstrapOnPurge re-bootstraps from a fresh snapshot when the
	// binlog needed to resume is gone, instead of stopping with an error.
	RebootstrapOnPurge bool `yaml:"rebootstrap_on_purge"`
	// MaxBatchEvents bounds the row changes pre-aggregated per Redis round
	// trip; default 50000.
	MaxBatchEvents int `yaml:"max_batch_events"`
	// ShutdownTimeout bounds the drain on SIGTERM; default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// MemoryLimitMiB is the Go runtime's soft memory limit for tidemark
	// run (debug.SetMemoryLimit), with GOGC 300 below it: the heap may
	// grow to four times its live size, but the collector works harder
	// as the process nears the limit instead of letting garbage raise
	// the peak. Default 200; 0 leaves the runtime's defaults (and a
	// GOMEMLIMIT or GOGC in the environment always wins).
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// Batch tunes the batch layer.
type Batch struct {
	// Schedule is a cron expression (robfig/cron, with optional seconds
	// field) for rebuilds; empty disables scheduled rebuilds.
	Schedule string `yaml:"schedule"`
	// Retention is how many generations to keep; default 3.
	Retention int `yaml:"retention"`
	// Compression is snappy (default) or zstd.
	Compression string `yaml:"compression"`
	// Partitions maps db.table to its partition spec, e.g.
	// ["day(created_at)"].
	Partitions map[string][]string `yaml:"partitions"`
	// History lists captured tables (db.table, each with a primary key)
	// that also get an SCD2 history table in the lake (docs/lake.md).
	History []string `yaml:"history"`
	// Engine computes the aggregate views of each generation: local (the
	// columnar engine, default), postgres or redshift (pushed down to the
	// warehouse target EngineTarget names; see engine.go).
	Engine       string `yaml:"engine"`
	EngineTarget string `yaml:"engine_target"`
}

// Metrics is the Prometheus endpoint; empty Listen disables it.
type Metrics struct {
	Listen string `yaml:"listen"`
}

// Log configures slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error; default info
	Format string `yaml:"format"` // text | json; default text
}

// Default returns the embedded defaults: a local lake directory, local Redis,
// API and metrics on loopback.
func Default() Config {
	return Config{
		Redis:   Redis{Prefix: "tm"},
		Lake:    Lake{Root: "file://./lake"},
		API:     reporting.Config{Listen: "127.0.0.1:8080"},
		Speed:   Speed{SegmentSeconds: 10, MaxBatchEvents: 50000, ShutdownTimeout: 30 * time.Second, MemoryLimitMiB: 200},
		Batch:   Batch{Retention: 3, Compression: "snappy", Engine: EngineLocal},
		Athena:  defaultAthena(),
		Metrics: Metrics{Listen: "127.0.0.1:9464"},
		Log:     Log{Level: "info", Format: "text"},

		Orchestrator: defaultOrchestrator(),
	}
}

// Load reads path, applies TIDEMARK_* overrides from env (nil means the
// process environment) and validates the result.
func Load(path string, env []string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	if env == nil {
		env = os.Environ()
	}
	return Parse(data, env)
}

// Parse is Load without the file read.
func Parse(data []byte, env []string) (*Config, error) {
	c := Default()
	if err := decodeStrict(data, &c); err != nil {
		return nil, err
	}
	if err := applyEnv(&c, env); err != nil {
		return nil, err
	}
	if c.Redis.Addr == "" && len(c.Redis.Cluster) == 0 {
		c.Redis.Addr = "127.0.0.1:6379"
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Errors is every problem Validate found, one per line.
type Errors []error

func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, err := range e {
		lines[i] = err.Error()
	}
	return strings.Join(lines, "\n")
}

var nameRE = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// Validate checks every section and returns all problems at once (Errors),
// each naming its dotted path and the fix.
func (c *Config) Validate() error {
	var errs Errors
	add := func(path, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
	}
	if len(c.Sources) == 0 {
		add("sources", "at least one source is required (name, host, port, user, server_id, databases)")
	}
	seen := map[string]bool{}
	for i, s := range c.Sources {
		p := fmt.Sprintf("sources[%d]", i)
		if !nameRE.MatchString(s.Name) {
			add(p+".name", "%q: want a lowercase name like \"shop\" ([a-z][a-z0-9_]*)", s.Name)
		} else if seen[s.Name] {
			add(p+".name", "%q is used by two sources; names must be unique", s.Name)
		}
		seen[s.Name] = true
		switch s.Flavor {
		case "mariadb", "mysql":
		case "":
			add(p+".flavor", "required: mariadb or mysql")
		default:
			add(p+".flavor", "%q: want mariadb or mysql", s.Flavor)
		}
		if s.Host == "" {
			add(p+".host", "required, e.g. 127.0.0.1")
		}
		if s.Port <= 0 || s.Port > 65535 {
			add(p+".port", "%d: want a TCP port 1..65535 (MySQL's default is 3306)", s.Port)
		}
		if s.User == "" {
			add(p+".user", "required: a user with REPLICATION SLAVE, REPLICATION CLIENT and SELECT")
		}
		if s.ServerID == 0 {
			add(p+".server_id", "required: a replication client id unique among the source's replicas, e.g. 4242")
		}
		if len(s.Databases) == 0 && len(s.Tables) == 0 {
			add(p, "set databases: [db, ...] or tables: [db.table, ...] to say what to capture")
		}
		for j, t := range s.Tables {
			if _, err := formats.ParseTableID(t); err != nil {
				add(fmt.Sprintf("%s.tables[%d]", p, j), "%q: want db.table", t)
			}
		}
		if s.Heartbeat != "" {
			if hb, err := formats.ParseTableID(s.Heartbeat); err != nil {
				add(p+".heartbeat", "%q: want db.table", s.Heartbeat)
			} else if !slices.Contains(s.Databases, hb.DB) && !slices.Contains(s.Tables, s.Heartbeat) {
				add(p+".heartbeat", "%q is not captured: add %q to databases or %q to tables, or its writes would not move the stream", s.Heartbeat, hb.DB, s.Heartbeat)
			}
		}
		if s.HeartbeatInterval < 0 {
			add(p+".heartbeat_interval", "%s: must not be negative", s.HeartbeatInterval)
		}
		s.Columns.validate(p+".columns", &s, add)
	}
	if c.Redis.Addr == "" && len(c.Redis.Cluster) == 0 {
		add("redis", "set addr: host:port or cluster: [host:port, ...]")
	}
	if c.Redis.Addr != "" && len(c.Redis.Cluster) > 0 {
		add("redis", "set either addr or cluster, not both")
	}
	if c.Redis.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Redis.Addr); err != nil {
			add("redis.addr", "%q: want host:port", c.Redis.Addr)
		}
	}
	for i, a := range c.Redis.Cluster {
		if _, _, err := net.SplitHostPort(a); err != nil {
			add(fmt.Sprintf("redis.cluster[%d]", i), "%q: want host:port", a)
		}
	}
	if strings.ContainsAny(c.Redis.Prefix, "{} ") || c.Redis.Prefix == "" {
		add("redis.prefix", "%q: want a non-empty prefix without braces or spaces", c.Redis.Prefix)
	}
	if u, err := url.Parse(c.Lake.Root); err != nil || (u.Scheme != "file" && u.Scheme != "s3") {
		add("lake.root", "%q: want file:///path or s3://bucket/prefix", c.Lake.Root)
	} else if u.Scheme == "s3" && u.Host == "" {
		add("lake.root", "%q: the s3 URL needs a bucket: s3://bucket/prefix", c.Lake.Root)
	}
	c.API.ApplyDefaults()
	if err := c.API.Validate(); err != nil {
		for _, e := range unwrapAll(err) {
			errs = append(errs, e)
		}
	}
	if c.Metrics.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Metrics.Listen); err != nil {
			add("metrics.listen", "%q: want host:port, e.g. 127.0.0.1:9464", c.Metrics.Listen)
		}
	}
	if c.Speed.SegmentSeconds <= 0 {
		add("speed.segment_seconds", "%d: must be positive (default 10)", c.Speed.SegmentSeconds)
	}
	if c.Speed.MaxBatchEvents <= 0 {
		add("speed.max_batch_events", "%d: must be positive (default 50000)", c.Speed.MaxBatchEvents)
	}
	if c.Speed.MemoryLimitMiB < 0 {
		add("speed.memory_limit_mib", "%d: must be 0 (no limit) or positive (default 200)", c.Speed.MemoryLimitMiB)
	}
	if c.Batch.Schedule != "" {
		if err := scheduler.ParseSpec(c.Batch.Schedule); err != nil {
			add("batch.schedule", "%v", err)
		}
	}
	if c.Batch.Retention < 1 {
		add("batch.retention", "%d: keep at least 1 generation", c.Batch.Retention)
	}
	if c.Batch.Compression != "snappy" && c.Batch.Compression != "zstd" {
		add("batch.compression", "%q: want snappy or zstd", c.Batch.Compression)
	}
	c.Athena.validate(&c.Lake, add)
	c.validateWarehouse(add)
	c.validateEngine(add)
	c.validateJobs(add)
	for i, h := range c.Batch.History {
		p := fmt.Sprintf("batch.history[%d]", i)
		id, err := formats.ParseTableID(h)
		if err != nil {
			add(p, "%q: want db.table", h)
			continue
		}
		if slices.Contains(c.Batch.History[:i], h) {
			add(p, "%q is listed twice", h)
		}
		if !slices.ContainsFunc(c.Sources, func(s Source) bool {
			return slices.Contains(s.Databases, id.DB) || slices.Contains(s.Tables, h)
		}) {
			add(p, "%q is not captured by any source: add %q to a source's databases or %q to its tables", h, id.DB, h)
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		add("log.level", "%q: want debug, info, warn or error", c.Log.Level)
	}
	if c.Log.Format != "text" && c.Log.Format != "json" {
		add("log.format", "%q: want text or json", c.Log.Format)
	}
	names := map[string]bool{}
	for i, v := range c.Views {
		p := fmt.Sprintf("views[%d]", i)
		if _, err := formats.ParseView(v); err != nil {
			add(p, "%v", err)
			continue
		}
		if names[v.Name] {
			add(p+".name", "%q is declared twice; view names must be unique", v.Name)
		}
		names[v.Name] = true
	}
	c.validateTables(add)
	validateViewColumns(c.Sources, c.Views, c.Batch.Partitions, add)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// unwrapAll splits an errors.Join into its parts.
func unwrapAll(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
