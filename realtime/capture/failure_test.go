package capture

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"
	"github.com/go-mysql-org/go-mysql/replication"
	sqlmysql "github.com/go-sql-driver/mysql"

	"github.com/tidemark/tidemark/formats"
	"github.com/tidemark/tidemark/internal/stack"
)

// collector reads a Stream's output in the background.
type collector struct {
	mu   sync.Mutex
	txns []*formats.Txn
	r    *stream
	quit chan struct{}
	done chan struct{}
}

func collect(t testing.TB, c *Capture, from formats.Position) *collector {
	t.Helper()
	col := &collector{r: startStream(t, c, from), quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(col.done)
		for {
			select {
			case txn := <-col.r.out:
				col.mu.Lock()
				col.txns = append(col.txns, txn)
				col.mu.Unlock()
			case <-col.quit:
				return
			}
		}
	}()
	t.Cleanup(col.stop)
	return col
}

func (col *collector) stop() {
	select {
	case <-col.quit:
	default:
		close(col.quit)
	}
	<-col.done
	col.r.stop()
}

// wait returns every Txn received once one at or past pos has arrived.
func (col *collector) wait(t testing.TB, pos formats.Position, timeout time.Duration) []*formats.Txn {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		col.mu.Lock()
		n := len(col.txns)
		reached := n > 0 && !col.txns[n-1].Pos.Less(pos.Commit())
		got := slices.Clone(col.txns)
		col.mu.Unlock()
		if reached {
			return got
		}
		select {
		case err := <-col.r.done:
			col.r.done <- err
			t.Fatalf("stream ended before %s: %v", pos, err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream did not reach %s within %s (%d txns, last %v)", pos, timeout, n, lastPos(got))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func lastPos(txns []*formats.Txn) any {
	if len(txns) == 0 {
		return nil
	}
	return txns[len(txns)-1].Pos
}

// writer inserts rows with increasing ids into shop.t, one to three per
// transaction, until stopped; ids whose commit failed may or may not exist.
type writer struct {
	db     *sql.DB
	stopCh chan struct{}
	done   chan struct{}
	mu     sync.Mutex
	next   int64
	errs   int
}

func startWriter(t testing.TB, db *sql.DB) *writer {
	w := &writer{db: db, stopCh: make(chan struct{}), done: make(chan struct{}), next: 1}
	go w.run()
	t.Cleanup(w.stop)
	return w
}

func (w *writer) run() {
	defer close(w.done)
	ctx := context.Background()
	for i := 0; ; i++ {
		select {
		case <-w.stopCh:
			return
		default:
		}
		err := func() error {
			tx, err := w.db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback() //nolint:errcheck
			w.mu.Lock()
			id := w.next
			w.next += int64(i%3 + 1)
			w.mu.Unlock()
			for k := range int64(i%3 + 1) {
				if _, err := tx.Exec("INSERT INTO shop.t VALUES (?, ?)", id+k, i); err != nil {
					return err
				}
			}
			return tx.Commit()
		}()
		if err != nil {
			w.mu.Lock()
			w.errs++
			w.mu.Unlock()
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (w *writer) stop() {
	select {
	case <-w.stopCh:
	default:
		close(w.stopCh)
	}
	<-w.done
}

// checkExactlyOnce fails unless the inserts delivered are exactly the rows
// of shop.t, each once, in increasing position order.
func checkExactlyOnce(t testing.TB, s *source, txns []*formats.Txn) {
	t.Helper()
	checkOrder(t, txns)
	seen := map[int64]formats.Position{}
	for _, txn := range txns {
		for _, e := range txn.Events {
			if e.Op != formats.OpInsert {
				t.Fatalf("unexpected %s at %s", e.Op, e.Pos)
			}
			id := e.After[0].(int64)
			if p, dup := seen[id]; dup {
				t.Fatalf("id %d delivered twice: at %s and %s", id, p, e.Pos)
			}
			seen[id] = e.Pos
		}
	}
	rows, err := s.db.Query("SELECT id FROM shop.t")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		if _, ok := seen[id]; !ok {
			t.Errorf("committed id %d never delivered", id)
		}
		delete(seen, id)
		n++
	}
	for id, p := range seen {
		t.Errorf("id %d delivered at %s but not in the table", id, p)
	}
	if n == 0 {
		t.Fatal("the writer committed nothing")
	}
	t.Logf("%d rows in %d transactions delivered exactly once", n, len(nonEmpty(txns)))
}

// dumpThread returns the id of the source's Binlog Dump thread.
func dumpThread(t testing.TB, db *sql.DB) (int64, bool) {
	t.Helper()
	var id int64
	err := db.QueryRow("SELECT ID FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump' LIMIT 1").Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return id, true
}

// TestStreamReconnectAfterKill: KILL of the replication thread on the
// source, three times during a write load: every committed row arrives
// exactly once.
func TestStreamReconnectAfterKill(t *testing.T) {
	s := newSource(t, nil)
	s.exec(t, "CREATE TABLE shop.t (id BIGINT PRIMARY KEY, v INT)")
	col := collect(t, s.c, s.pos(t))
	w := startWriter(t, s.db)
	for k := 1; k <= 3; k++ {
		time.Sleep(400 * time.Millisecond)
		deadline := time.Now().Add(10 * time.Second)
		for {
			if id, ok := dumpThread(t, s.db); ok {
				if _, err := s.db.Exec(fmt.Sprintf("KILL %d", id)); err != nil {
					t.Fatal(err)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no Binlog Dump thread on the source")
			}
			time.Sleep(20 * time.Millisecond)
		}
		for s.metrics.reconnects.Load() < int64(k) {
			if time.Now().After(deadline) {
				t.Fatalf("no reconnect after KILL %d", k)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	w.stop()
	checkExactlyOnce(t, s, col.wait(t, s.pos(t), 30*time.Second))
}

// TestStreamReconnectAfterCrash: kill -9 of the source and a restart
// during a write load: every committed row arrives exactly once.
func TestStreamReconnectAfterCrash(t *testing.T) {
	s := newSource(t, nil)
	s.exec(t, "CREATE TABLE shop.t (id BIGINT PRIMARY KEY, v INT)")
	col := collect(t, s.c, s.pos(t))
	w := startWriter(t, s.db)
	for range 2 {
		time.Sleep(500 * time.Millisecond)
		s.m.Kill(t)
		time.Sleep(300 * time.Millisecond)
		s.m.Start(t)
	}
	time.Sleep(500 * time.Millisecond)
	w.stop()
	checkExactlyOnce(t, s, col.wait(t, s.pos(t), 60*time.Second))
	if n := s.metrics.reconnects.Load(); n < 2 {
		t.Errorf("%d reconnects, want at least 2", n)
	}
	files, err := s.c.BinaryLogs(context.Background())
	if err != nil || len(files) < 3 {
		t.Errorf("binary logs %v, %v: want a new file per restart", files, err)
	}
}

// TestStreamPurged: resuming from a purged binlog fails with ErrPurged and
// says how to recover, both when Stream sees it first and when the server
// does.
func TestStreamPurged(t *testing.T) {
	s := newSource(t, nil)
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY)", "INSERT INTO shop.t VALUES (1)")
	from := s.pos(t)
	s.exec(t, "FLUSH BINARY LOGS", "INSERT INTO shop.t VALUES (2)", "FLUSH BINARY LOGS")
	files, err := s.c.BinaryLogs(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	last := files[len(files)-1].Name
	// MariaDB keeps a file until its binlog checkpoint has moved on (InnoDB
	// flushed its log, about a second here): purge until it is gone.
	for deadline := time.Now().Add(20 * time.Second); ; {
		s.exec(t, "PURGE BINARY LOGS TO '"+last+"'")
		files, err = s.c.BinaryLogs(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if files[0].Name == last {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("PURGE BINARY LOGS TO %s left %v", last, files)
		}
		time.Sleep(200 * time.Millisecond)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = s.c.Stream(ctx, from, make(chan *formats.Txn))
	if msg := errIs(err, ErrPurged); msg != "" {
		t.Fatal(msg)
	}
	for _, want := range []string{from.File, "speed.rebootstrap_on_purge", "binlog_expire_logs_seconds"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}

	// The server's own refusal (error 1236), as go-mysql surfaces it.
	syncer := replication.NewBinlogSyncer(s.c.syncerConfig())
	defer syncer.Close()
	st, err := syncer.StartSync(gomysql.Position{Name: from.File, Pos: from.Offset})
	if err == nil {
		_, err = st.GetEvent(ctx)
	}
	retry, err := classify(err, from)
	if retry || !errors.Is(err, ErrPurged) {
		t.Fatalf("server error classified retry=%v %v, want ErrPurged", retry, err)
	}

	// A position past the end of a file is not "purged" but is refused.
	bad := formats.Position{File: last, Offset: 1 << 30}
	if err := s.c.Stream(ctx, bad, make(chan *formats.Txn)); err == nil || errors.Is(err, ErrPurged) ||
		!strings.Contains(err.Error(), "beyond the end") {
		t.Errorf("Stream from %s: %v", bad, err)
	}
}

// testStreamRefusesStatementFormat: a statement-logged change in a captured
// database stops the stream with ErrPrerequisite instead of missing it.
func testStreamRefusesStatementFormat(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY)", "CREATE TABLE other.x (id INT PRIMARY KEY)")
	st := startStream(t, s.c, s.pos(t))
	s.exec(t, "SET SESSION binlog_format=STATEMENT", "INSERT INTO other.x VALUES (1)")
	s.exec(t, "INSERT INTO shop.t VALUES (1)")
	if txn := st.next(t, 10*time.Second); ids(t, txn)[0] != 1 {
		t.Fatalf("got %v", txn)
	}
	s.exec(t, "SET SESSION binlog_format=STATEMENT", "INSERT INTO shop.t VALUES (2)")
	err := st.waitErr(t, 10*time.Second)
	if msg := errIs(err, ErrPrerequisite); msg != "" || !strings.Contains(err.Error(), "binlog_format=ROW") {
		t.Fatalf("%s (%v)", msg, err)
	}
}

// testStreamRefusesPartialImage: an update logged by a session with
// binlog_row_image=MINIMAL (the global setting is FULL) stops the stream
// with ErrPartialRowImage, and its transaction is never delivered; the
// transactions before it are.
func testStreamRefusesPartialImage(t *testing.T, srv *stack.MariaDBServer) {
	s := sharedSource(t, srv, nil)
	s.exec(t, "CREATE TABLE shop.t (id INT PRIMARY KEY, a INT, b VARCHAR(10))", "INSERT INTO shop.t VALUES (1, 1, 'x')")
	st := startStream(t, s.c, s.pos(t))
	s.exec(t, "UPDATE shop.t SET a = 2 WHERE id = 1")
	if txn := st.next(t, 10*time.Second); txn.Events[0].Op != formats.OpUpdate {
		t.Fatalf("got %v", txn)
	}
	s.exec(t, "SET SESSION binlog_row_image=MINIMAL", "BEGIN", "INSERT INTO shop.t VALUES (7, 7, 'y')",
		"UPDATE shop.t SET a = 3 WHERE id = 1", "COMMIT")
	var err error
	for done := false; !done; {
		select {
		case txn := <-st.out:
			if len(txn.Events) > 0 {
				t.Fatalf("a transaction with a partial row image was delivered: %v", txn.Events)
			}
		case err = <-st.done:
			st.done <- err
			done = true
		case <-time.After(10 * time.Second):
			t.Fatal("the stream did not stop on a partial row image")
		}
	}
	for _, target := range []error{ErrPartialRowImage, ErrPrerequisite} {
		if msg := errIs(err, target); msg != "" {
			t.Fatalf("%s (%v)", msg, err)
		}
	}
	if !strings.Contains(err.Error(), "binlog_row_image=FULL") || !strings.Contains(err.Error(), "image") {
		t.Errorf("message lacks the fix: %v", err)
	}
}

func TestFullBitmap(t *testing.T) {
	for _, c := range []struct {
		b    []byte
		n    int
		full bool
	}{
		{[]byte{0x07}, 3, true},
		{[]byte{0x05}, 3, false},
		{[]byte{0xff, 0x01}, 9, true},
		{[]byte{0xff, 0x00}, 9, false},
		{[]byte{0x7f, 0x01}, 9, false},
		{[]byte{0xff}, 9, false},
		{nil, 1, false},
		{[]byte{0xff}, 8, true},
	} {
		if got := fullBitmap(c.b, c.n); got != c.full {
			t.Errorf("fullBitmap(%08b, %d) = %v, want %v", c.b, c.n, got, c.full)
		}
	}
}

func TestBackoff(t *testing.T) {
	min, max := 250*time.Millisecond, 30*time.Second
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second}
	for i, w := range want {
		if got := backoff(min, max, i+1); got != w {
			t.Errorf("backoff(%d) = %s, want %s", i+1, got, w)
		}
	}
	if got := backoff(min, max, 100); got != max {
		t.Errorf("backoff(100) = %s, want the cap %s", got, max)
	}
}

func TestClassify(t *testing.T) {
	pos := formats.Position{File: "mariadb-bin.000007", Offset: 1234}
	cases := []struct {
		err    error
		retry  bool
		purged bool
	}{
		{gomysql.NewError(1236, "Could not find first log file name in binary log index file"), false, true},
		{gomysql.NewError(1236, "Could not find GTID state requested by slave in any binlog files. Probably the slave state is too old and required binlog files have been purged."), false, true},
		{gomysql.NewError(1236, "binlog truncated in the middle of event; consider out of disk space"), false, false},
		{gomysql.NewError(1045, "Access denied"), false, false},
		{gomysql.NewError(1927, "Connection was killed"), true, false},
		{fmt.Errorf("reading: %w", gomysql.ErrBadConn), true, false},
		{errDeadConn, true, false},
		{fatal(errors.New("bad row")), false, false},
		{&purgedError{pos: pos, detail: "oldest is x"}, false, true},
		{fmt.Errorf("listing: %w", &sqlmysql.MySQLError{Number: 1227, Message: "Access denied"}), false, false},
		{fmt.Errorf("listing: %w", &sqlmysql.MySQLError{Number: 1053, Message: "Server shutdown in progress"}), true, false},
	}
	for _, c := range cases {
		retry, err := classify(c.err, pos)
		if retry != c.retry || errors.Is(err, ErrPurged) != c.purged {
			t.Errorf("classify(%v) = %v, %v", c.err, retry, err)
		}
		if c.purged && !strings.Contains(err.Error(), pos.File) {
			t.Errorf("purged error %q does not name %s", err, pos.File)
		}
	}
}

// proxy forwards TCP connections to a server; freeze stalls the
// connections open at that moment forever (a network partition that
// sends no reset) while new connections go through.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	frozen []chan struct{}
	live   []chan struct{}
}

func newProxy(t testing.TB, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		p.mu.Lock()
		for _, f := range append(p.frozen, p.live...) {
			select {
			case <-f:
			default:
				close(f)
			}
		}
		p.mu.Unlock()
	})
	go p.serve()
	return p
}

func (p *proxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		gate := make(chan struct{}) // closed: the connection is dropped
		p.mu.Lock()
		p.live = append(p.live, gate)
		p.mu.Unlock()
		frozen := func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			return slices.Contains(p.frozen, gate)
		}
		pipe := func(dst, src net.Conn) {
			buf := make([]byte, 32<<10)
			for {
				n, err := src.Read(buf)
				for frozen() {
					select {
					case <-gate:
						return
					case <-time.After(10 * time.Millisecond):
					}
				}
				if n > 0 {
					if _, werr := dst.Write(buf[:n]); werr != nil {
						return
					}
				}
				if err != nil {
					dst.Close()
					return
				}
			}
		}
		go pipe(s, c)
		go pipe(c, s)
	}
}

func (p *proxy) freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.frozen = append(p.frozen, p.live...)
	p.live = nil
}

// TestStreamReconnectAfterSilence: a replication connection that goes
// silent (no data, no reset) is given up after three heartbeat periods and
// the stream resumes exactly; a healthy idle one is kept.
func TestStreamReconnectAfterSilence(t *testing.T) {
	s := newSource(t, nil)
	s.exec(t, "CREATE TABLE shop.t (id BIGINT PRIMARY KEY, v INT)")
	p := newProxy(t, s.m.Addr())
	c := s.clone(t, func(c *Config) { c.Port = p.port(); c.Metrics = s.metrics })
	col := collect(t, c, s.pos(t))
	w := startWriter(t, s.db)
	time.Sleep(500 * time.Millisecond)
	w.stop()
	time.Sleep(4 * time.Second) // idle, heartbeats only
	if n := s.metrics.reconnects.Load(); n != 0 {
		t.Fatalf("%d reconnects on a healthy idle connection", n)
	}
	p.freeze()
	w = startWriter(t, s.db)
	deadline := time.Now().Add(20 * time.Second)
	for s.metrics.reconnects.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no reconnect after the connection went silent")
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	w.stop()
	checkExactlyOnce(t, s, col.wait(t, s.pos(t), 30*time.Second))
}
