package stack

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresServer is a running throwaway PostgreSQL: superuser "postgres" without password
// (trust), no fsync (commits survive Kill, not a machine crash). Run as root, the server
// runs as the "postgres" user.
type PostgresServer struct {
	Host    string // "127.0.0.1"
	Port    int
	User    string // "postgres"
	DataDir string
	Pid     int // 0 while stopped

	proc *proc
}

// Postgres starts a new PostgreSQL (see the package doc); t.Cleanup stops it.
func Postgres(t testing.TB) *PostgresServer {
	t.Helper()
	require(t, "postgres", "postgres", "initdb", "psql")
	p := startServer(t, "postgres.sh", "postgres", nil, []int{0}, 0)
	return &PostgresServer{
		Host: "127.0.0.1", Port: p.port, User: "postgres",
		DataDir: filepath.Join(p.dir, "data"), Pid: p.pid(t), proc: p,
	}
}

// DSN returns "postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable".
func (s *PostgresServer) DSN() string {
	return fmt.Sprintf("postgres://%s@%s:%d/postgres?sslmode=disable", s.User, s.Host, s.Port)
}

// Conn opens a pgx connection to the postgres database; t.Cleanup closes it.
func (s *PostgresServer) Conn(t testing.TB) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatalf("stack: connecting to PostgreSQL at %s:%d: %v", s.Host, s.Port, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return c
}

// Exec runs the statements in order on one connection, failing the test at the first error.
func (s *PostgresServer) Exec(t testing.TB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgx.Connect(ctx, s.DSN())
	if err != nil {
		t.Fatalf("stack: connecting to PostgreSQL at %s:%d: %v", s.Host, s.Port, err)
	}
	defer c.Close(ctx)
	for _, st := range stmts {
		if _, err := c.Exec(ctx, st); err != nil {
			t.Fatalf("stack: PostgreSQL: executing %q: %v", st, err)
		}
	}
}

// Stop shuts the server down (fast shutdown, SIGINT) and waits for it to exit.
func (s *PostgresServer) Stop(t testing.TB) {
	t.Helper()
	if err := s.proc.stop(); err != nil {
		t.Fatalf("stack: stopping PostgreSQL: %v", err)
	}
	s.Pid = 0
}

// Kill kills the server with SIGKILL.
func (s *PostgresServer) Kill(t testing.TB) {
	t.Helper()
	if err := s.proc.kill(); err != nil {
		t.Fatalf("stack: killing PostgreSQL: %v", err)
	}
	s.Pid = 0
}

// Start starts the stopped server again on the same port and data dir.
func (s *PostgresServer) Start(t testing.TB) {
	t.Helper()
	if err := s.proc.start(); err != nil {
		t.Fatalf("stack: restarting PostgreSQL: %v", err)
	}
	s.Pid = s.proc.pid(t)
}
