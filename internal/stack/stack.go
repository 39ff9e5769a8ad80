package stack

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

const modulePath = "github.com/tidemark/tidemark"

// scriptTimeout bounds one run of a script; the scripts' own start timeouts are shorter
// and fail with the server's log, which is the message worth reading.
const scriptTimeout = 3 * time.Minute

// Root returns the module root (the directory holding Tidemark's go.mod): $TIDEMARK_ROOT if
// set, else the first directory upward from the working directory whose go.mod declares the
// module, else the one upward from this source file. It returns "" when none is found.
func Root() string {
	if r := os.Getenv("TIDEMARK_ROOT"); r != "" {
		return r
	}
	if wd, err := os.Getwd(); err == nil {
		if r := findRoot(wd); r != "" {
			return r
		}
	}
	if _, file, _, ok := runtime.Caller(0); ok {
		return findRoot(filepath.Dir(file))
	}
	return ""
}

func findRoot(dir string) string {
	for {
		mod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(mod, []byte("module "+modulePath+"\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// script returns the path of scripts/name, failing the test when the tree has none.
func script(t testing.TB, name string) string {
	t.Helper()
	root := Root()
	if root == "" {
		t.Fatalf("stack: cannot find the %s module root (go.mod) from the working directory; set TIDEMARK_ROOT", modulePath)
	}
	p := filepath.Join(root, "scripts", name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("stack: %v", err)
	}
	return p
}

// runScript runs a script with bash, with env added to the environment, and returns its
// output (errors only, by the scripts' contract) in the error.
func runScript(path string, env []string, args ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), scriptTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{path}, args...)...)
	cmd.Env = append(append(os.Environ(), "TIDEMARK_OWNER_PID="+strconv.Itoa(os.Getpid())), env...)
	// The servers' stdio goes to their logs, so the output pipes close when the script
	// exits; WaitDelay only guards against a script that breaks that rule.
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		return fmt.Errorf("running scripts/%s %s: %w\n%s", filepath.Base(path), strings.Join(args, " "), err, msg)
	}
	return nil
}

// extraPath lists where the scripts look for binaries beyond $PATH (see scripts/lib.sh).
func extraPath() []string {
	dirs := []string{"/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin"}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "tidemark", "bin"))
	}
	pg, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	return append(dirs, pg...)
}

func haveBinary(name string) bool {
	if _, err := exec.LookPath(name); err == nil {
		return true
	}
	for _, d := range extraPath() {
		if fi, err := os.Stat(filepath.Join(d, name)); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return true
		}
	}
	return false
}

// installs remembers, per install-deps.sh part, the one attempt this process made.
var installs sync.Map // part string -> func() error (a sync.OnceValue)

// require skips the test in -short mode, and otherwise ends it (Unavailable) unless the
// binaries exist, trying scripts/install-deps.sh PART once per process first when running
// as root.
func require(t testing.TB, part string, bins ...string) {
	t.Helper()
	skipShort(t, part)
	missing := missingBinaries(bins)
	if len(missing) == 0 {
		return
	}
	if os.Geteuid() != 0 {
		Unavailable(t, "stack: %s not installed (need %s); run scripts/install-deps.sh %s as root",
			part, strings.Join(missing, ", "), part)
	}
	path := script(t, "install-deps.sh")
	once, _ := installs.LoadOrStore(part, sync.OnceValue(func() error { return runScript(path, nil, part) }))
	err := once.(func() error)()
	if missing = missingBinaries(bins); len(missing) > 0 {
		Unavailable(t, "stack: %s not installed (need %s) and scripts/install-deps.sh %s could not install it: %v",
			part, strings.Join(missing, ", "), part, err)
	}
}

func missingBinaries(bins []string) []string {
	var missing []string
	for _, b := range bins {
		if !haveBinary(b) {
			missing = append(missing, b)
		}
	}
	return missing
}

// dataDir returns a fresh directory for one server: under t.TempDir(), or under
// $TIDEMARK_STACK_DIR, where it is kept after the test.
func dataDir(t testing.TB, kind string) string {
	t.Helper()
	base := os.Getenv("TIDEMARK_STACK_DIR")
	if base == "" {
		return filepath.Join(t.TempDir(), kind)
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		t.Fatalf("stack: %v", err)
	}
	dir, err := os.MkdirTemp(base, kind+"-")
	if err != nil {
		t.Fatalf("stack: %v", err)
	}
	return dir
}

// portFree reports whether 127.0.0.1:port can be listened on now.
func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}

// freePort returns a port p such that p+off is free on 127.0.0.1 for every offset, drawn
// at random in [20000, maxPort), or [20000, 32000) when maxPort is 0. The range stays below
// Linux's ephemeral ports (32768 and up): a port the kernel hands out there is one it also
// hands to outgoing connections, so a server restarted on its port (a crash test) could
// find it taken by another test's client socket. Another process may still take the port
// before the server binds it: startServer retries on a clash.
func freePort(offsets []int, maxPort int) (int, error) {
	if maxPort <= 0 {
		maxPort = 32000
	}
	for range 100 {
		p := 20000 + rand.IntN(maxPort-20000)
		ok := true
		for _, off := range offsets {
			if p+off > 65535 || !portFree(p+off) {
				ok = false
				break
			}
		}
		if ok {
			return p, nil
		}
	}
	return 0, errors.New("picking a free port: no free port found in 100 tries")
}

// proc is one server (or one cluster) run by a script: scripts/<name>.sh start DIR PORT.
type proc struct {
	script string   // absolute path of the script
	env    []string // added to the script's environment ("KEY=value")
	dir    string
	port   int
}

// startServer starts a new server on a free port, retrying with another port when the
// chosen one was taken meanwhile. It registers the server's stop with t.Cleanup.
func startServer(t testing.TB, scriptName, kind string, env []string, offsets []int, maxPort int) *proc {
	t.Helper()
	skipShort(t, kind)
	p := &proc{script: script(t, scriptName), env: env, dir: dataDir(t, kind)}
	var err error
	for range 5 {
		if p.port, err = freePort(offsets, maxPort); err != nil {
			t.Fatalf("stack: starting %s: %v", kind, err)
		}
		if err = p.start(); err == nil || !strings.Contains(strings.ToLower(err.Error()), "already in use") {
			break
		}
	}
	if err != nil {
		t.Fatalf("stack: starting %s: %v", kind, err)
	}
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Errorf("stack: stopping %s: %v", kind, err)
		}
	})
	return p
}

// start starts the server on p.port; a failed start leaves nothing running.
func (p *proc) start() error {
	err := runScript(p.script, p.env, "start", p.dir, strconv.Itoa(p.port))
	if err != nil {
		// A server that came up too late, or a cluster half up, must not outlive the failure.
		if kerr := p.kill(); kerr != nil {
			err = errors.Join(err, kerr)
		}
	}
	return err
}

func (p *proc) stop() error { return runScript(p.script, p.env, "stop", p.dir) }
func (p *proc) kill() error { return runScript(p.script, p.env, "kill", p.dir) }

// pids returns the pids recorded in DIR/pid, nil when nothing runs.
func (p *proc) pids() ([]int, error) {
	b, err := os.ReadFile(filepath.Join(p.dir, "pid"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading pid file: %w", err)
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("reading pid file %s: %w", filepath.Join(p.dir, "pid"), err)
		}
		pids = append(pids, n)
	}
	return pids, nil
}

// pid returns the single pid of a one-process server, failing the test when there is none.
func (p *proc) pid(t testing.TB) int {
	t.Helper()
	pids, err := p.pids()
	if err != nil || len(pids) != 1 {
		t.Fatalf("stack: server in %s: want one pid, got %v (%v)", p.dir, pids, err)
	}
	return pids[0]
}

// Alive reports whether pid is a running process. A zombie (exited, not yet reaped: the
// servers are reparented to pid 1, which does not reap on every machine) is not running.
func Alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	// The state follows the command name, which is in parentheses and may hold anything.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
