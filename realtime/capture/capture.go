package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/tidemark/tidemark/formats"
)

// Flavors of source server.
const (
	FlavorMariaDB = "mariadb"
	FlavorMySQL   = "mysql"
)

// Config configures a Capture. Zero values of the tuning fields mean the
// documented default.
type Config struct {
	// Flavor is FlavorMariaDB or FlavorMySQL; required.
	Flavor string
	// Host and Port address the source server. Port 0 means 3306.
	Host string
	Port int
	// User and Password are the replication account's credentials.
	User, Password string
	// ServerID is the id this client registers under on the source; it
	// must be non-zero and unique among the source's replicas.
	ServerID uint32
	// Databases captures every table of these databases; Tables captures
	// these tables. A table is captured when either names it. Both empty:
	// nothing is captured (Stream then only moves the position).
	Databases []string
	Tables    []formats.TableID
	// Columns is the column policy (exclude, mask) applied to every row and
	// schema the Capture hands out; the zero value applies nothing.
	Columns ColumnPolicy

	// Logger receives reconnect warnings and go-mysql's own messages (the
	// latter lowered to Debug). nil discards.
	Logger *slog.Logger
	// Metrics is told about reconnects and delivered events. nil: none.
	Metrics Metrics

	// ReconnectMin is the first delay before reconnecting a broken
	// replication connection; it doubles per consecutive failure up to
	// ReconnectMax. Zero: 250ms and 30s.
	ReconnectMin, ReconnectMax time.Duration
	// ReconnectAttempts is how many consecutive failed sessions Stream
	// tolerates before it returns the last error. Zero: it never gives up.
	ReconnectAttempts int
	// Heartbeat is the period at which the source sends a heartbeat on an
	// idle replication connection; a connection silent for 3 periods is
	// presumed dead and reconnected. Zero: 5s. Negative: no heartbeat and
	// no dead-connection detection (only TCP errors break a session).
	Heartbeat time.Duration
	// IdleTxnInterval bounds how often Stream emits an empty Txn for
	// transactions that touch no captured table. Zero: 1s.
	IdleTxnInterval time.Duration
	// Tick is how often Stream emits a tick on an idle stream: an empty
	// Txn that says the source committed nothing more up to now (see
	// Stream). The source's replication heartbeat is asked for at this
	// period (or Heartbeat's, if shorter), and a tick is sent at a
	// heartbeat. Zero: 1s. Negative: no ticks.
	Tick time.Duration
	// EventBuffer is how many decoded binlog events go-mysql reads ahead of
	// Stream: half of them queued, half in the batch Stream is working
	// through (queue.go). A rows event holds up to binlog_row_event_max_size bytes of
	// rows (8 KiB by default, often a hundred rows), all decoded, so this
	// read-ahead is memory outside any row-change bound of the consumer.
	// Zero: 128.
	EventBuffer int
	// HeartbeatTable is the source's heartbeat table (zero: none), written
	// by Heartbeat and captured like any table: the transactions that
	// write it are stamped with its microsecond time (formats.ClockHeartbeat).
	HeartbeatTable formats.TableID
}

// Metrics receives the capture's counters. Implementations must be safe for
// use by one goroutine per running Stream. Declared here, implemented by the
// caller (Prometheus in cmd/tidemark).
type Metrics interface {
	// Reconnected is called each time Stream has re-established a broken
	// replication session (the server sent the first event from the
	// resume position).
	Reconnected()
	// Events counts n row changes of table with op delivered on the out
	// channel (one call per run of alike changes in a transaction).
	Events(table formats.TableID, op formats.Op, n int)
}

// Capture reads one source server: its binlog (Stream), consistent
// snapshots of its tables (Snapshot), its schemas and its prerequisites.
//
// A Capture is safe for concurrent use; each Stream or Snapshot call uses
// its own connections. Close releases the SQL connection pool.
type Capture struct {
	cfg      Config
	log      *slog.Logger
	db       *sql.DB
	captured captureSet
}

// New validates cfg and returns a Capture. It does not connect: the first
// call that needs the server does.
func New(cfg Config) (*Capture, error) {
	switch cfg.Flavor {
	case FlavorMariaDB, FlavorMySQL:
	default:
		return nil, fmt.Errorf("capture config: flavor %q: want %q or %q", cfg.Flavor, FlavorMariaDB, FlavorMySQL)
	}
	if cfg.Host == "" {
		return nil, errors.New("capture config: host is empty")
	}
	if cfg.Port == 0 {
		cfg.Port = 3306
	}
	if cfg.Port < 0 || cfg.Port > 65535 {
		return nil, fmt.Errorf("capture config: port %d out of range", cfg.Port)
	}
	if cfg.ServerID == 0 {
		return nil, errors.New("capture config: server_id must be non-zero (and unique among the source's replicas)")
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = 250 * time.Millisecond
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 30 * time.Second
	}
	if cfg.ReconnectMax < cfg.ReconnectMin {
		cfg.ReconnectMax = cfg.ReconnectMin
	}
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = 5 * time.Second
	}
	if cfg.IdleTxnInterval <= 0 {
		cfg.IdleTxnInterval = time.Second
	}
	if cfg.Tick == 0 {
		cfg.Tick = time.Second
	}
	if cfg.EventBuffer <= 0 {
		cfg.EventBuffer = 128
	}
	pol, err := compilePolicy(cfg.Columns)
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}

	mc := mysql.NewConfig()
	mc.User = cfg.User
	mc.Passwd = cfg.Password
	mc.Net = "tcp"
	mc.Addr = net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	mc.ParseTime = false
	// Per network read or write, so a dead path fails instead of hanging
	// (a snapshot's rows keep the reads short).
	mc.Timeout = 10 * time.Second
	mc.ReadTimeout = time.Minute
	mc.WriteTimeout = time.Minute
	mc.InterpolateParams = true
	// TIMESTAMP text is rendered in the session time zone: UTC makes the
	// snapshot path agree with the binlog path, which carries UTC instants.
	mc.Params = map[string]string{"time_zone": "'+00:00'"}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("capture config: %w", err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxIdleConns(2)
	db.SetConnMaxIdleTime(time.Minute)

	c := &Capture{cfg: cfg, log: log, db: db, captured: newCaptureSet(cfg.Databases, cfg.Tables)}
	c.captured.policy = pol
	return c, nil
}

// Close releases the Capture's SQL connections. Running Stream and Snapshot
// calls must have returned.
func (c *Capture) Close() error { return c.db.Close() }

// DB is the Capture's pool of SQL connections to the source (time_zone UTC,
// no parseTime), for callers that query the source directly (verify).
func (c *Capture) DB() *sql.DB { return c.db }

// captureSet decides which tables and columns are captured. It is
// immutable.
type captureSet struct {
	dbs    map[string]bool
	tables map[formats.TableID]bool
	// policy is the column policy; nil applies none.
	policy *policy
}

func newCaptureSet(dbs []string, tables []formats.TableID) captureSet {
	s := captureSet{dbs: map[string]bool{}, tables: map[formats.TableID]bool{}}
	for _, d := range dbs {
		s.dbs[d] = true
	}
	for _, t := range tables {
		s.tables[t] = true
	}
	return s
}

func (s captureSet) has(db, table string) bool {
	return s.dbs[db] || s.tables[formats.TableID{DB: db, Table: table}]
}

func (s captureSet) hasDB(db string) bool {
	if s.dbs[db] {
		return true
	}
	for t := range s.tables {
		if t.DB == db {
			return true
		}
	}
	return false
}

// conn returns one dedicated connection; the caller closes it.
func (c *Capture) conn(ctx context.Context) (*sql.Conn, error) {
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", c.addr(), err)
	}
	return conn, nil
}

func (c *Capture) addr() string { return net.JoinHostPort(c.cfg.Host, strconv.Itoa(c.cfg.Port)) }
