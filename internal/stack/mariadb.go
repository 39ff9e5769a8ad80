package stack

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the "mysql" database/sql driver
)

// MariaDBServer is a running throwaway MariaDB configured as a Tidemark source: log_bin on,
// binlog_format=ROW, binlog_row_image=FULL, binlog_row_metadata=FULL, gtid_strict_mode,
// server_id=1, log_slave_updates. User root has an empty password over TCP.
type MariaDBServer struct {
	Host     string // "127.0.0.1"
	Port     int
	User     string // "root"
	Password string // ""
	DataDir  string // the server's datadir (binlogs are there too, as mariadb-bin.NNNNNN)
	Pid      int    // 0 after Kill or Stop

	proc *proc
}

// MariaDB starts a new MariaDB (see the package doc); t.Cleanup stops it.
func MariaDB(t testing.TB) *MariaDBServer {
	t.Helper()
	return MariaDBWith(t)
}

// MariaDBWith starts a new MariaDB with extra server arguments, e.g.
// "--max-binlog-size=4096" to rotate binlogs quickly. They replace $MARIADB_EXTRA_ARGS;
// an argument must not contain spaces. They apply to later Starts too.
func MariaDBWith(t testing.TB, extraArgs ...string) *MariaDBServer {
	t.Helper()
	require(t, "mariadb", "mariadbd", "mariadb-install-db", "mariadb")
	var env []string
	if len(extraArgs) > 0 {
		env = []string{"MARIADB_EXTRA_ARGS=" + strings.Join(extraArgs, " ")}
	}
	p := startServer(t, "mariadb.sh", "mariadb", env, []int{0}, 0)
	return &MariaDBServer{
		Host: "127.0.0.1", Port: p.port, User: "root",
		DataDir: filepath.Join(p.dir, "data"), Pid: p.pid(t), proc: p,
	}
}

// Addr returns "127.0.0.1:PORT".
func (m *MariaDBServer) Addr() string { return fmt.Sprintf("%s:%d", m.Host, m.Port) }

// DSN returns a go-sql-driver/mysql DSN for database db ("" for none) as root.
func (m *MariaDBServer) DSN(db string) string {
	return fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=false&multiStatements=true&interpolateParams=true",
		m.User, m.Password, m.Addr(), db)
}

// DB opens a connection pool to database db ("" for none) as root; t.Cleanup closes it.
func (m *MariaDBServer) DB(t testing.TB, db string) *sql.DB {
	t.Helper()
	d, err := sql.Open("mysql", m.DSN(db))
	if err != nil {
		t.Fatalf("stack: opening %s: %v", m.Addr(), err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

// Exec runs the statements in order on one connection as root (so USE and session
// variables carry over), failing the test at the first error.
func (m *MariaDBServer) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := sql.Open("mysql", m.DSN(""))
	if err != nil {
		t.Fatalf("stack: opening %s: %v", m.Addr(), err)
	}
	defer d.Close()
	conn, err := d.Conn(ctx)
	if err != nil {
		t.Fatalf("stack: connecting to MariaDB at %s: %v", m.Addr(), err)
	}
	defer conn.Close()
	for _, s := range stmts {
		if _, err := conn.ExecContext(ctx, s); err != nil {
			t.Fatalf("stack: MariaDB at %s: executing %q: %v", m.Addr(), s, err)
		}
	}
}

// Kill kills the server with SIGKILL, as a crash would.
func (m *MariaDBServer) Kill(t testing.TB) {
	t.Helper()
	if err := m.proc.kill(); err != nil {
		t.Fatalf("stack: killing MariaDB: %v", err)
	}
	m.Pid = 0
}

// Stop shuts the server down gracefully and waits for it to exit.
func (m *MariaDBServer) Stop(t testing.TB) {
	t.Helper()
	if err := m.proc.stop(); err != nil {
		t.Fatalf("stack: stopping MariaDB: %v", err)
	}
	m.Pid = 0
}

// Start starts the server again on the same port and datadir (after Kill: crash recovery),
// and returns once it answers.
func (m *MariaDBServer) Start(t testing.TB) {
	t.Helper()
	if err := m.proc.start(); err != nil {
		t.Fatalf("stack: restarting MariaDB: %v", err)
	}
	m.Pid = m.proc.pid(t)
}
